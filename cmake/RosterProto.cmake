# roster_proto_library(<target> PROTOS <file.proto>... [GRPC] [DEPS <target>...])
#
# Generates C++ (and, with GRPC, gRPC service stubs) for .proto files below proto/ and builds
# them into a static library. Files are named relative to proto/, so imports read
# `import "roster/v1/cluster.proto";` and headers `#include "roster/v1/cluster.pb.h"`.
# protobuf_generate() is avoided on purpose: its output paths are awkward (docs/building.md).
function(roster_proto_library target)
  cmake_parse_arguments(ARG "GRPC" "" "PROTOS;DEPS" ${ARGN})
  set(proto_root "${CMAKE_CURRENT_SOURCE_DIR}")
  set(out_root "${CMAKE_CURRENT_BINARY_DIR}")
  set(srcs)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(dir "${proto}" DIRECTORY)
    get_filename_component(stem "${proto}" NAME_WE)
    set(base "${out_root}/${dir}/${stem}")
    set(outputs "${base}.pb.cc" "${base}.pb.h")
    set(plugin_args)
    set(plugin_deps)
    if(ARG_GRPC)
      list(APPEND outputs "${base}.grpc.pb.cc" "${base}.grpc.pb.h")
      set(plugin_args
          "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
          "--grpc_out=${out_root}")
      set(plugin_deps gRPC::grpc_cpp_plugin)
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND protobuf::protoc
              "--proto_path=${proto_root}" "--cpp_out=${out_root}" ${plugin_args}
              "${proto_root}/${proto}"
      DEPENDS "${proto_root}/${proto}" protobuf::protoc ${plugin_deps}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND srcs ${outputs})
  endforeach()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${out_root}>" "$<INSTALL_INTERFACE:include>")
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
  # Generated code is not ours to warn about.
  target_compile_options(${target} PRIVATE -w)
endfunction()
