# The HTTP pieces the server, the client and the test suite share: the
# parser (demos/http/parser.cpp), dates, media types, ranges, paths, URLs.
set(CORIO_HTTP_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/parser.cpp
  ${CMAKE_CURRENT_LIST_DIR}/util.cpp
)
# The static-file server's library (demos/http_server/), linked by its
# main.cpp and the test suite.
set(CORIO_HTTP_SERVER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../http_server/server.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../http_server/files.cpp
)
