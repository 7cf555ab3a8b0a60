# CMake toolchain for x86_64-pc-windows-gnu from Linux (Debian's mingw-w64, the POSIX
# threads variant), used by cmake-rs for libjpeg-turbo (SIMD through nasm -f win64) and
# libheif, and by scripts/cross-setup.sh for libde265. Named in .cargo/config.toml.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_ASM_NASM_COMPILER nasm)
set(CMAKE_ASM_NASM_OBJECT_FORMAT win64)

# The static libde265 that scripts/cross-setup.sh installs (M365_CROSS_PREFIX overrides).
if(DEFINED ENV{M365_CROSS_PREFIX})
  set(_m365_prefix "$ENV{M365_CROSS_PREFIX}")
else()
  get_filename_component(_m365_prefix "${CMAKE_CURRENT_LIST_DIR}/../target/cross-deps/x86_64-pc-windows-gnu" ABSOLUTE)
endif()
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 "${_m365_prefix}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config inside cmake (libheif's FindLIBDE265) sees the cross prefix only, never the
# host's libraries.
set(ENV{PKG_CONFIG_LIBDIR} "${_m365_prefix}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
