#ifndef KILN_CLIENT_CPP_CLI_JSON_H_
#define KILN_CLIENT_CPP_CLI_JSON_H_

#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {

// A message as JSON for `--json` output: fields in .proto order and named
// as there, every field present (defaults included), integers of every
// width as JSON numbers (protobuf's own JSON writes 64-bit ones as
// strings), enums by name, bytes in base64, oneof members, optional fields
// and sub-messages only when set.
nlohmann::ordered_json ProtoToJson(const google::protobuf::Message& message);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_JSON_H_
