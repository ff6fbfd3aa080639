"""Protocol buffers with the system protoc and grpc_cpp_plugin, offline."""

def kiln_cc_proto_library(name, srcs, deps = [], grpc = False, strip_prefix = "", visibility = None):
    """C++ messages (and gRPC stubs) for `srcs`, as one cc_library.

    Args:
      name: the cc_library's name.
      srcs: .proto files in this package, imported by their workspace path
        (e.g. "kiln/v1/graph.proto" for proto/kiln/v1/graph.proto).
      deps: other kiln_cc_proto_library targets whose protos these import.
      grpc: also generate gRPC service stubs.
      strip_prefix: a folder of this package that is the proto root instead
        of the package itself (srcs still name it).
      visibility: of the cc_library.
    """
    pkg = native.package_name()
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs.append(base + ".pb.h")
        outs.append(base + ".pb.cc")
        if grpc:
            outs.append(base + ".grpc.pb.h")
            outs.append(base + ".grpc.pb.cc")

    # Protos import each other relative to this package's root (proto/), so
    # the generated headers are included as "kiln/v1/foo.pb.h".
    root = pkg + ("/" + strip_prefix if strip_prefix else "")
    cmd = "protoc --proto_path=%s --cpp_out=$(GENDIR)/%s" % (root, root)
    if grpc:
        cmd += " --grpc_out=$(GENDIR)/%s --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" % root
    cmd += " $(SRCS)"

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = cmd,
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs,
        visibility = ["//visibility:public"],
    )
    # Messages alone (no gRPC) as `<name>_messages` for code that must not
    # depend on gRPC (the compiler); `<name>` adds the service stubs.
    pb_srcs = [o for o in outs if o.endswith(".pb.cc") and not o.endswith(".grpc.pb.cc")]
    pb_hdrs = [o for o in outs if o.endswith(".pb.h") and not o.endswith(".grpc.pb.h")]
    grpc_srcs = [o for o in outs if o.endswith(".grpc.pb.cc")]
    grpc_hdrs = [o for o in outs if o.endswith(".grpc.pb.h")]
    includes = [strip_prefix if strip_prefix else "."]
    native.cc_library(
        name = name + "_messages",
        srcs = pb_srcs,
        hdrs = pb_hdrs,
        includes = includes,
        deps = [d + "_messages" for d in deps] + ["//third_party/sys:protobuf"],
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = grpc_srcs,
        hdrs = grpc_hdrs,
        includes = includes,
        deps = [name + "_messages"] + deps + (["//third_party/sys:grpc"] if grpc else []),
        visibility = visibility,
    )
