#include "tools/bench/workloads.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cache/guards/test_util.h"
#include "compiler/ir/text.h"
#include "tools/bench/redis_client.h"

namespace kiln::bench {
namespace {

using cache::testing::Ctx;
using cache::testing::Sig;
using cache::testing::T;

constexpr char kSymbol[] = "s0";

absl::StatusOr<std::unique_ptr<client::KilnClient>> Connect(
    const client::ClientOptions& options, int index) {
  client::ClientOptions own = options;
  // gRPC shares one connection between channels with equal arguments; a
  // message limit one byte apart gives every client its own, as separate
  // processes would have.
  own.max_message_bytes -= index;
  return client::KilnClient::Create(own);
}

// A contiguous f32[rows, kCols] cpu tensor's metadata, without data.
v1::Tensor TensorMeta(int64_t rows) {
  v1::Tensor t;
  t.set_dtype(v1::FLOAT32);
  t.mutable_device()->set_type(v1::CPU);
  t.add_sizes(rows);
  t.add_sizes(kCols);
  t.add_strides(kCols);
  t.add_strides(1);
  return t;
}

std::string InputBytes(int64_t rows) {
  std::vector<float> values(rows * kCols);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<float>(static_cast<int64_t>(i % 17) - 8) * 0.25f;
  }
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(float));
}

// What a call returns: the server's timings where the response has them.
using CallResult = absl::StatusOr<std::optional<ServerTimings>>;

std::optional<ServerTimings> Total(int64_t us) {
  ServerTimings timings;
  timings.total = absl::Microseconds(us);
  return timings;
}

// An Execute's stages; the total where it is sound.
ServerTimings ExecuteTimingsOf(const v1::ExecuteTimings& t) {
  ServerTimings timings;
  timings.total = absl::Microseconds(t.total_us());
  timings.stages = {{"queue", absl::Microseconds(t.queue_us())},
                    {"guards", absl::Microseconds(t.guard_us())},
                    {"input copy", absl::Microseconds(t.input_copy_us())},
                    {"run", absl::Microseconds(t.run_us())},
                    {"output copy", absl::Microseconds(t.output_copy_us())}};
  return timings;
}

// A lambda returning a CallResult as a ClientOp, with the state it
// captured.
template <typename F>
class LambdaOp : public ClientOp {
 public:
  explicit LambdaOp(F call) : call_(std::move(call)) {}
  absl::Status Call() override {
    CallResult result = call_();
    if (!result.ok()) return result.status();
    timings_ = *std::move(result);
    return absl::OkStatus();
  }
  const ServerTimings* LastServerTimings() const override {
    return timings_.has_value() ? &*timings_ : nullptr;
  }

 private:
  F call_;
  std::optional<ServerTimings> timings_;
};

template <typename F>
std::unique_ptr<ClientOp> MakeOp(F call) {
  return std::make_unique<LambdaOp<F>>(std::move(call));
}

// A POSIX shared-memory object of this process, registered with the server
// as one region. Unregisters and removes it on destruction.
class SharedRegion {
 public:
  static absl::StatusOr<std::unique_ptr<SharedRegion>> Create(
      client::KilnClient* client, size_t size) {
    static std::atomic<int> next{0};
    std::string object = absl::StrCat("/kiln_bench_", getpid(), "_", next++);
    int fd = shm_open(object.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
      return absl::InternalError(
          absl::StrCat("shm_open ", object, ": ", std::strerror(errno)));
    }
    void* data = MAP_FAILED;
    if (ftruncate(fd, static_cast<off_t>(size)) == 0) {
      data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    int saved_errno = errno;
    close(fd);
    if (data == MAP_FAILED) {
      shm_unlink(object.c_str());
      return absl::InternalError(
          absl::StrCat("mapping ", object, ": ", std::strerror(saved_errno)));
    }
    std::unique_ptr<SharedRegion> region(
        new SharedRegion(client, object, static_cast<uint8_t*>(data), size));
    absl::Status registered =
        client->RegisterSharedMemory(region->name(), object, 0, size);
    if (!registered.ok()) return registered;
    region->registered_ = true;
    return region;
  }
  ~SharedRegion() {
    if (registered_) client_->UnregisterSharedMemory(name()).IgnoreError();
    munmap(data_, size_);
    shm_unlink(object_.c_str());
  }
  // The region's name on the server: the object's name without the '/'.
  std::string name() const { return object_.substr(1); }
  uint8_t* data() { return data_; }

 private:
  SharedRegion(client::KilnClient* client, std::string object, uint8_t* data,
               size_t size)
      : client_(client), object_(std::move(object)), data_(data), size_(size) {}

  client::KilnClient* client_;
  std::string object_;
  uint8_t* data_;
  size_t size_;
  bool registered_ = false;
};

// An alpha no earlier call or run used, so that the graph is new: the
// clock at the first call plus a process-wide counter.
int64_t FreshAlpha() {
  static std::atomic<int64_t> next{0};
  static const int64_t base = absl::ToUnixMicros(absl::Now());
  return base + next++;
}

// Execute with the input and output in this client's shared-memory region.
class SharedMemoryExecute : public ClientOp {
 public:
  SharedMemoryExecute(std::unique_ptr<client::KilnClient> client,
                      std::unique_ptr<SharedRegion> region,
                      v1::ExecuteRequest request)
      : client_(std::move(client)),
        region_(std::move(region)),
        request_(std::move(request)) {}

  absl::Status Call() override {
    absl::StatusOr<v1::ExecuteResponse> response = client_->Execute(request_);
    if (!response.ok()) return response.status();
    if (response->outputs_size() != 1 ||
        !response->outputs(0).tensor().has_shm()) {
      return absl::InternalError("Execute: no output in shared memory");
    }
    timings_ = ExecuteTimingsOf(response->timings());
    return absl::OkStatus();
  }
  const ServerTimings* LastServerTimings() const override { return &timings_; }

 private:
  std::unique_ptr<client::KilnClient> client_;
  // Unregistered through client_, so declared after it (destroyed first).
  std::unique_ptr<SharedRegion> region_;
  v1::ExecuteRequest request_;
  ServerTimings timings_;
};

}  // namespace

std::string ChainGraphText(int nodes, int64_t alpha) {
  const std::string type = absl::StrCat("f32[", kSymbol, ", ", kCols, "]");
  std::string text = absl::StrCat("graph(%x: ", type, ") {\n");
  std::string previous = "%x";
  for (int i = 0; i < nodes; ++i) {
    std::string value = absl::StrCat("%v", i);
    switch (i % 3) {
      case 0:
        absl::StrAppend(&text, "  ", value, " = aten::relu.default(", previous,
                        ") : ", type, "\n");
        break;
      case 1:
        absl::StrAppend(&text, "  ", value, " = aten::mul.Tensor(", previous,
                        ", ", previous, ") : ", type, "\n");
        break;
      default:
        absl::StrAppend(&text, "  ", value, " = aten::add.Tensor(", previous,
                        ", %x, alpha=", alpha, ") : ", type, "\n");
        break;
    }
    previous = value;
  }
  absl::StrAppend(&text, "  return (", previous, ")\n}");
  return text;
}

absl::StatusOr<v1::CompileRequest> CompileRequestFor(
    const std::string& graph_text, const std::string& backend) {
  absl::StatusOr<v1::Graph> graph = ir::ParseGraphToProto(graph_text);
  if (!graph.ok()) return graph.status();
  v1::CompileRequest request;
  *request.mutable_graph() = *std::move(graph);
  *request.mutable_guards() = Ctx().In(T().Sizes({kSymbol, kCols})).Build();
  request.mutable_target()->set_backend(backend);
  request.set_client_id("kiln-bench");
  return request;
}

v1::CallSignature SignatureFor(int64_t rows) {
  return Sig().In(T().Sizes({rows, kCols})).Build();
}

client::ClientOptions BenchClientOptions(const std::string& server) {
  client::ClientOptions options;
  options.server = server;
  options.timeout = absl::Minutes(10);
  return options;
}

ClientOpFactory HealthCheck(client::ClientOptions options) {
  return [options](int index) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto client = Connect(options, index);
    if (!client.ok()) return client.status();
    return MakeOp([client = *std::move(client)]() -> CallResult {
      absl::StatusOr<client::Health> health = client->CheckHealth();
      if (!health.ok()) return health.status();
      if (*health != client::Health::kServing) {
        return absl::UnavailableError(
            absl::StrCat("kiln-server is ", client::HealthName(*health)));
      }
      return std::nullopt;
    });
  };
}

ClientOpFactory CompileHit(client::ClientOptions options,
                           v1::CompileRequest request) {
  return [options,
          request](int index) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto client = Connect(options, index);
    if (!client.ok()) return client.status();
    return MakeOp([client = *std::move(client), request]() -> CallResult {
      absl::StatusOr<v1::CompileResponse> response = client->Compile(request);
      if (!response.ok()) return response.status();
      if (!response->cache_hit()) {
        return absl::InternalError("Compile: expected a cache hit");
      }
      return Total(response->timings().total_us());
    });
  };
}

ClientOpFactory LookupHit(client::ClientOptions options,
                          std::string graph_digest, std::string backend,
                          int64_t rows) {
  v1::LookupRequest request;
  request.set_graph_digest(std::move(graph_digest));
  request.mutable_target()->set_backend(std::move(backend));
  *request.mutable_signature() = SignatureFor(rows);
  request.set_client_id("kiln-bench");
  return [options,
          request](int index) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto client = Connect(options, index);
    if (!client.ok()) return client.status();
    return MakeOp([client = *std::move(client), request]() -> CallResult {
      absl::StatusOr<v1::LookupResponse> response = client->Lookup(request);
      if (!response.ok()) return response.status();
      if (!response->has_hit()) {
        return absl::InternalError("Lookup: expected a hit");
      }
      return std::nullopt;
    });
  };
}

ClientOpFactory GetArtifactBytes(client::ClientOptions options,
                                 std::string artifact_key,
                                 int64_t expected_bytes) {
  return [options, artifact_key, expected_bytes](
             int index) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto client = Connect(options, index);
    if (!client.ok()) return client.status();
    return MakeOp([client = *std::move(client), artifact_key,
                   expected_bytes]() -> CallResult {
      absl::StatusOr<v1::GetArtifactResponse> response =
          client->GetArtifact(artifact_key, /*include_binary=*/true);
      if (!response.ok()) return response.status();
      int64_t bytes = response->plan().size() + response->binary().size();
      if (bytes != expected_bytes) {
        return absl::InternalError(absl::StrCat(
            "GetArtifact: ", bytes, " bytes, expected ", expected_bytes));
      }
      return std::nullopt;
    });
  };
}

const char* TransportName(Transport transport) {
  switch (transport) {
    case Transport::kInline:
      return "bytes in the message";
    case Transport::kStreamed:
      return "bytes, ExecuteStream";
    case Transport::kSharedMem:
      return "shared memory";
  }
  return "?";
}

ClientOpFactory ExecuteRoundTrip(client::ClientOptions options,
                                 std::string artifact_key, int64_t rows,
                                 Transport transport) {
  v1::ExecuteRequest base;
  base.set_artifact_key(std::move(artifact_key));
  *base.mutable_signature() = SignatureFor(rows);
  base.set_client_id("kiln-bench");
  *base.add_inputs()->mutable_tensor() = TensorMeta(rows);
  const int64_t bytes = rows * kCols * static_cast<int64_t>(sizeof(float));

  return [options, base, rows, bytes,
          transport](int index) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto connected = Connect(options, index);
    if (!connected.ok()) return connected.status();
    std::unique_ptr<client::KilnClient> client = *std::move(connected);
    v1::ExecuteRequest request = base;
    v1::Tensor* input = request.mutable_inputs(0)->mutable_tensor();

    if (transport == Transport::kSharedMem) {
      // Input at offset 0, output right after it.
      auto region = SharedRegion::Create(client.get(), 2 * bytes);
      if (!region.ok()) return region.status();
      std::string data = InputBytes(rows);
      std::memcpy((*region)->data(), data.data(), data.size());
      v1::SharedMemoryRef* in = input->mutable_shm();
      in->set_region((*region)->name());
      in->set_byte_size(bytes);
      v1::OutputBuffer* out = request.add_output_buffers();
      out->set_output_index(0);
      out->mutable_shm()->set_region((*region)->name());
      out->mutable_shm()->set_offset(bytes);
      out->mutable_shm()->set_byte_size(bytes);
      return std::make_unique<SharedMemoryExecute>(
          std::move(client), *std::move(region), std::move(request));
    }

    input->set_raw(InputBytes(rows));
    return MakeOp([client = std::move(client), request = std::move(request),
                   bytes, transport]() -> CallResult {
      absl::StatusOr<v1::ExecuteResponse> response =
          transport == Transport::kStreamed ? client->ExecuteStreamed(request)
                                            : client->Execute(request);
      if (!response.ok()) return response.status();
      if (response->outputs_size() != 1 ||
          static_cast<int64_t>(response->outputs(0).tensor().raw().size()) !=
              bytes) {
        return absl::InternalError(
            absl::StrCat("Execute: expected one output of ", bytes, " bytes"));
      }
      return ExecuteTimingsOf(response->timings());
    });
  };
}

ClientOpFactory ColdCompile(client::ClientOptions options,
                            std::string backend) {
  return [options,
          backend](int index) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto client = Connect(options, index);
    if (!client.ok()) return client.status();
    return MakeOp([client = *std::move(client), backend]() -> CallResult {
      absl::StatusOr<v1::CompileRequest> request =
          CompileRequestFor(ChainGraphText(3, FreshAlpha()), backend);
      if (!request.ok()) return request.status();
      absl::StatusOr<v1::CompileResponse> response = client->Compile(*request);
      if (!response.ok()) return response.status();
      if (response->cache_hit()) {
        return absl::InternalError("Compile: expected a cache miss");
      }
      return Total(response->timings().total_us());
    });
  };
}

ClientOpFactory RedisGet(std::string address, std::string key,
                         int64_t expected_bytes) {
  return [address, key,
          expected_bytes](int) -> absl::StatusOr<std::unique_ptr<ClientOp>> {
    auto redis = RedisClient::Connect(address);
    if (!redis.ok()) return redis.status();
    return MakeOp([redis = *std::move(redis), key,
                   expected_bytes]() -> CallResult {
      absl::StatusOr<std::string> value = redis->Get(key);
      if (!value.ok()) return value.status();
      if (static_cast<int64_t>(value->size()) != expected_bytes) {
        return absl::InternalError(absl::StrCat(
            "redis GET: ", value->size(), " bytes, expected ", expected_bytes));
      }
      return std::nullopt;
    });
  };
}

}  // namespace kiln::bench
