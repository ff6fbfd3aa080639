#ifndef KILN_CLIENT_CPP_CLI_SIGNATURE_H_
#define KILN_CLIENT_CPP_CLI_SIGNATURE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cli {

// A concrete call for `kiln explain`, from a file or from flags.
struct SignatureFlags {
  // --signature FILE: a kiln.v1.CallSignature in protobuf JSON (what
  // Python's json_format.MessageToJson writes), text format (.txtpb,
  // .textproto, .pbtxt) or binary (.pb, .binpb). Excludes the flags below.
  std::string file;
  // --input SPEC, once per argument of the call, in order:
  //   tensor   DTYPE[SIZES] then optionally {STRIDES}, @DEVICE, +grad,
  //            #GROUP (alias group), +offset=N, e.g. "f32[8,16]",
  //            "f16[4,3]{1,4}@cuda:0+grad". DTYPE is f16 bf16 f32 f64 i8
  //            i16 i32 i64 u8 b8; strides default to contiguous.
  //   SymInt   sym:VALUE
  //   constant int:VALUE, float:VALUE, bool:true|false, str:TEXT, none
  std::vector<std::string> inputs;
  // Global torch state (defaults are PyTorch's).
  bool no_grad = false;                      // --no-grad
  std::string torch_function = "enabled";    // enabled | subclass-disabled |
                                             // all-disabled
  std::string default_dtype = "f32";         // --default-dtype
  bool deterministic = false;                // --deterministic
  std::string matmul_precision = "highest";  // highest | high | medium
  // --autocast DEVICE=DTYPE enables autocast for a device type ("cuda=f16");
  // otherwise cpu (bf16) and cuda (f16) are off.
  std::vector<std::string> autocast;
};

// INVALID_ARGUMENT naming the flag or file for anything malformed.
absl::StatusOr<v1::CallSignature> BuildSignature(const SignatureFlags& flags);

// One --input tensor spec.
absl::StatusOr<v1::TensorMeta> ParseTensorSpec(const std::string& spec,
                                               std::optional<int>* alias_group);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_SIGNATURE_H_
