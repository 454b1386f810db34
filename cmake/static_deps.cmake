# Third-party libraries that a target can link statically by setting its
# FLINT_STATIC_DEPS property (flist-mount does: it starts once per flist mount,
# and on a VM where every page fault is expensive loading ~50 shared objects
# was half of its start time). Every other target links the shared libraries.
# A library without a static archive on this machine stays shared everywhere.
#
#   flint_dep_absl flint_dep_sqlite3 flint_dep_fuse3 flint_dep_crypto flint_dep_snappy

set(_flint_static "$<BOOL:$<TARGET_PROPERTY:FLINT_STATIC_DEPS>>")

# flint_static_dep(NAME ARCHIVES <archives...> [STATIC_EXTRA <what the archives need>]
#                  SHARED <shared items...> [INCLUDES <dirs...>])
function(flint_static_dep name)
  cmake_parse_arguments(D "" "" "ARCHIVES;STATIC_EXTRA;SHARED;INCLUDES" ${ARGN})
  add_library(${name} INTERFACE)
  target_include_directories(${name} INTERFACE ${D_INCLUDES})
  set(_have TRUE)
  foreach(a IN LISTS D_ARCHIVES)
    if(NOT EXISTS "${a}")
      set(_have FALSE)
    endif()
  endforeach()
  if(_have AND D_ARCHIVES)
    # RESCAN: the archives may reference one another in any order (abseil's do).
    target_link_libraries(${name} INTERFACE
      "$<${_flint_static}:$<LINK_GROUP:RESCAN,${D_ARCHIVES}>;${D_STATIC_EXTRA}>"
      "$<$<NOT:${_flint_static}>:${D_SHARED}>")
  else()
    target_link_libraries(${name} INTERFACE ${D_SHARED})
  endif()
endfunction()

find_library(FLINT_ABSL_BASE_ARCHIVE NAMES libabsl_base.a)
if(FLINT_ABSL_BASE_ARCHIVE)
  get_filename_component(_absl_dir "${FLINT_ABSL_BASE_ARCHIVE}" DIRECTORY)
  file(GLOB _absl_archives "${_absl_dir}/libabsl_*.a")
endif()
flint_static_dep(flint_dep_absl ARCHIVES ${_absl_archives} STATIC_EXTRA Threads::Threads
  SHARED absl::status absl::statusor absl::strings absl::str_format absl::flat_hash_map)

find_library(FLINT_SQLITE3_ARCHIVE NAMES libsqlite3.a)
flint_static_dep(flint_dep_sqlite3 ARCHIVES ${FLINT_SQLITE3_ARCHIVE} STATIC_EXTRA m ${CMAKE_DL_LIBS} Threads::Threads
  SHARED SQLite::SQLite3)

find_library(FLINT_FUSE3_ARCHIVE NAMES libfuse3.a)
flint_static_dep(flint_dep_fuse3 ARCHIVES ${FLINT_FUSE3_ARCHIVE} STATIC_EXTRA ${CMAKE_DL_LIBS} Threads::Threads
  SHARED PkgConfig::FUSE3 INCLUDES ${FUSE3_INCLUDE_DIRS})

find_library(FLINT_CRYPTO_ARCHIVE NAMES libcrypto.a)
flint_static_dep(flint_dep_crypto ARCHIVES ${FLINT_CRYPTO_ARCHIVE} STATIC_EXTRA ${CMAKE_DL_LIBS} Threads::Threads
  SHARED OpenSSL::Crypto INCLUDES ${OPENSSL_INCLUDE_DIR})

find_package(Snappy REQUIRED)
find_library(FLINT_SNAPPY_ARCHIVE NAMES libsnappy.a)
get_target_property(_snappy_includes Snappy::snappy INTERFACE_INCLUDE_DIRECTORIES)
if(NOT _snappy_includes)
  set(_snappy_includes "")
endif()
flint_static_dep(flint_dep_snappy ARCHIVES ${FLINT_SNAPPY_ARCHIVE} SHARED Snappy::snappy INCLUDES ${_snappy_includes})
