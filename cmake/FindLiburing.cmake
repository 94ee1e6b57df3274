# FindLiburing.cmake: liburing as the imported target Liburing::Liburing.
# Installed with corio's package, so an application that links corio::corio
# finds liburing on its own machine instead of a path baked in at corio's
# build. Prefers the static archive: Debian's shared liburing 2.3 does not
# export io_uring_enable_rings.
find_path(Liburing_INCLUDE_DIR NAMES liburing.h)
find_library(Liburing_LIBRARY NAMES liburing.a uring)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Liburing REQUIRED_VARS Liburing_LIBRARY Liburing_INCLUDE_DIR)
if(Liburing_FOUND AND NOT TARGET Liburing::Liburing)
  add_library(Liburing::Liburing UNKNOWN IMPORTED)
  set_target_properties(Liburing::Liburing PROPERTIES
    IMPORTED_LOCATION "${Liburing_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Liburing_INCLUDE_DIR}")
endif()
mark_as_advanced(Liburing_INCLUDE_DIR Liburing_LIBRARY)
