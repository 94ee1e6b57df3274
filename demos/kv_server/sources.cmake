# The kv server's library sources, shared by demos/kv_server/CMakeLists.txt
# and the test suite (which builds them in when the demos are off).
set(CORIO_KV_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/resp.cpp
  ${CMAKE_CURRENT_LIST_DIR}/glob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/store.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pubsub.cpp
  ${CMAKE_CURRENT_LIST_DIR}/commands.cpp
  ${CMAKE_CURRENT_LIST_DIR}/server.cpp
)
