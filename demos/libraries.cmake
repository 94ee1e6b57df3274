# demos/libraries.cmake: the demos' libraries that the test suite links too,
# defined once for both (included from the top-level CMakeLists.txt when the
# demos or the tests are built). Each demo's main.cpp links its library.
set(corio_demos_dir ${CMAKE_CURRENT_LIST_DIR})

# The chat server's core (demos/chat_server/chat.cpp).
add_library(corio_chat STATIC ${corio_demos_dir}/chat_server/chat.cpp)
target_link_libraries(corio_chat PUBLIC corio::corio)

# The kv server (demos/kv_server): everything but its main.cpp.
add_library(corio_kv STATIC
  ${corio_demos_dir}/kv_server/resp.cpp
  ${corio_demos_dir}/kv_server/glob.cpp
  ${corio_demos_dir}/kv_server/store.cpp
  ${corio_demos_dir}/kv_server/pubsub.cpp
  ${corio_demos_dir}/kv_server/commands.cpp
  ${corio_demos_dir}/kv_server/server.cpp)
target_link_libraries(corio_kv PUBLIC corio::corio)

# The HTTP pieces (demos/http: the parser, dates, media types, ranges,
# paths, URLs) and the static-file server (demos/http_server) that
# http_server, http_get and the test suite share.
add_library(corio_http STATIC
  ${corio_demos_dir}/http/parser.cpp
  ${corio_demos_dir}/http/util.cpp
  ${corio_demos_dir}/http_server/server.cpp
  ${corio_demos_dir}/http_server/files.cpp)
target_link_libraries(corio_http PUBLIC corio::corio corio_fmt)

foreach(lib corio_chat corio_kv corio_http)
  target_include_directories(${lib} PUBLIC ${corio_demos_dir})
  target_compile_features(${lib} PUBLIC cxx_std_23)
  corio_apply_options(${lib})
endforeach()
