// artifact-runner: loads a serialized artifact (any registered backend) in
// a fresh process and runs it, without the graph or a compiler. Used by
// artifact_process_test.
//
//   artifact-runner --backend=cpu --artifact=A --inputs=REQ --outputs=RESP
//
// REQ is a kiln.v1.ExecuteRequest (tensors with raw data, ints, floats,
// bools); RESP receives a kiln.v1.ExecuteResponse. Exit 0 on success, 1
// with the error on stderr.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "compiler/backends/backend.h"
#include "compiler/runtime/tensor_proto.h"
#include "kiln/v1/compiler_service.pb.h"

namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Fail(const std::string& what) {
  std::cerr << "artifact-runner: " << what << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend_name = "cpu", artifact, inputs, outputs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto take = [&](const char* flag, std::string* out) {
      std::string prefix = std::string(flag) + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      *out = a.substr(prefix.size());
      return true;
    };
    if (!take("--backend", &backend_name) && !take("--artifact", &artifact) &&
        !take("--inputs", &inputs) && !take("--outputs", &outputs)) {
      return Fail("unknown flag " + a);
    }
  }
  auto backend = kiln::backends::CreateBackend(backend_name);
  if (!backend.ok()) return Fail(std::string(backend.status().message()));
  auto exe = (*backend)->Load(Read(artifact), kiln::backends::LoadOptions());
  if (!exe.ok()) return Fail(exe.status().ToString());
  kiln::v1::ExecuteRequest request;
  if (!request.ParseFromString(Read(inputs))) return Fail("bad inputs");
  std::vector<kiln::ops::RuntimeValue> values;
  for (const kiln::v1::InputValue& in : request.inputs()) {
    switch (in.value_case()) {
      case kiln::v1::InputValue::kTensor: {
        auto t = kiln::rt::TensorFromProto(in.tensor(), "input");
        if (!t.ok()) return Fail(t.status().ToString());
        values.push_back(kiln::ops::RuntimeValue::OfTensor(*t));
        break;
      }
      case kiln::v1::InputValue::kIntValue:
        values.push_back(kiln::ops::RuntimeValue::OfScalar(
            kiln::rt::Scalar::Int(in.int_value())));
        break;
      case kiln::v1::InputValue::kFloatValue:
        values.push_back(kiln::ops::RuntimeValue::OfScalar(
            kiln::rt::Scalar::Float(in.float_value())));
        break;
      case kiln::v1::InputValue::kBoolValue:
        values.push_back(kiln::ops::RuntimeValue::OfScalar(
            kiln::rt::Scalar::Bool(in.bool_value())));
        break;
      default:
        values.push_back(kiln::ops::RuntimeValue());
        break;
    }
  }
  auto out = (*exe)->Run(values);
  if (!out.ok()) return Fail(out.status().ToString());
  kiln::v1::ExecuteResponse response;
  for (const kiln::ops::RuntimeValue& v : *out) {
    kiln::v1::OutputValue* o = response.add_outputs();
    if (v.kind == kiln::ops::RuntimeValue::Kind::kTensor) {
      kiln::rt::TensorToProto(v.tensor, o->mutable_tensor());
    } else if (v.kind == kiln::ops::RuntimeValue::Kind::kScalar) {
      o->set_int_value(v.scalar.i);
    } else {
      o->mutable_none();
    }
  }
  std::ofstream f(outputs, std::ios::binary);
  if (!response.SerializeToOstream(&f)) return Fail("cannot write outputs");
  return 0;
}
