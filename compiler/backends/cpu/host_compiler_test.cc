// Host-compiler failures come back as errors and never take the process
// down: bad generated source (through the backend's test hook), a compiler
// that crashes, one that hangs (killed at the deadline with everything it
// started), one that does not exist.
#include "compiler/backends/cpu/host_compiler.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "absl/strings/match.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::cpu {
namespace {

using ::testing::HasSubstr;

// An executable shell script in the test's temp dir.
std::string Script(const std::string& name, const std::string& body) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  chmod(path.c_str(), 0755);
  return path;
}

std::unique_ptr<ir::Graph> SmallGraph() {
  auto g = ir::ParseGraph(R"(graph(%x: f32[4]) {
  %y = aten::exp.default(%x) : f32[4]
  return (%y)
})");
  EXPECT_TRUE(g.ok()) << g.status();
  return *std::move(g);
}

TEST(HostCompilerTest, SyntaxErrorInGeneratedSourceIsAnError) {
  backends::CompileOptions options;
  options.source_hook = [](std::string& src) {
    src += "\nint kiln_broken( { this is not C++ }\n";
  };
  auto exe = CompileCpu(*SmallGraph(), options);
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(exe.status().message(), HasSubstr("the host compiler"));
  EXPECT_THAT(exe.status().message(), HasSubstr("error:"));
  EXPECT_THAT(exe.status().message(), HasSubstr("kiln_broken"));
}

TEST(HostCompilerTest, HangingCompilerIsKilledAtTheDeadline) {
  // The "compiler" also leaves a grandchild behind; killing the process
  // group takes it too, so the call returns at the deadline.
  std::string hang = Script("hang.sh", "sleep 300 &\nsleep 300");
  backends::CompileOptions options;
  options.host_compiler = hang;
  options.host_compiler_timeout = absl::Seconds(1);
  auto start = std::chrono::steady_clock::now();
  auto exe = CompileCpu(*SmallGraph(), options);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(exe.status().message(), HasSubstr("was killed"));
  EXPECT_LT(seconds, 30);
}

TEST(HostCompilerTest, CrashingCompilerIsAnError) {
  std::string crash = Script("crash.sh",
                             "echo 'internal compiler error' >&2\n"
                             "kill -SEGV $$");
  backends::CompileOptions options;
  options.host_compiler = crash;
  auto exe = CompileCpu(*SmallGraph(), options);
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(exe.status().message(), HasSubstr("signal 11"));
  EXPECT_THAT(exe.status().message(), HasSubstr("internal compiler error"));
}

TEST(HostCompilerTest, FailingCompilerReportsItsMessage) {
  std::string fail = Script("fail.sh",
                            "echo 'cc1plus: out of memory' >&2\n"
                            "exit 4");
  HostCompileOptions options;
  options.compiler = fail;
  auto so = CompileSharedObject(std::vector<std::string>{"a", "b"}, options);
  ASSERT_FALSE(so.ok());
  EXPECT_EQ(so.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(so.status().message(), HasSubstr("exit 4"));
  EXPECT_THAT(so.status().message(), HasSubstr("cc1plus: out of memory"));
}

TEST(HostCompilerTest, MissingCompilerIsUnavailable) {
  backends::CompileOptions options;
  options.host_compiler = "/nonexistent/g++";
  auto exe = CompileCpu(*SmallGraph(), options);
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HostCompilerTest, FlagsFollowTheTargetNeverNative) {
  auto avx2 = FlagsForTarget("cpu-x86_64-avx2");
  ASSERT_TRUE(avx2.ok());
  EXPECT_THAT(*avx2, ::testing::Contains("-mavx2"));
  EXPECT_THAT(*avx2, ::testing::Contains("-mfma"));
  EXPECT_THAT(*avx2, ::testing::Contains("-std=c++17"));
  EXPECT_THAT(*avx2, ::testing::Contains("-ffp-contract=off"));
  for (const char* t : {"cpu-x86_64-avx512", "cpu-x86_64-avx2",
                        "cpu-x86_64-sse4", "cpu-x86_64"}) {
    auto flags = FlagsForTarget(t);
    ASSERT_TRUE(flags.ok()) << t;
    for (const std::string& f : *flags) {
      EXPECT_FALSE(absl::StrContains(f, "native")) << t;
    }
  }
  EXPECT_EQ(FlagsForTarget("cpu-riscv").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HostCompilerTest, SeveralTranslationUnitsLinkIntoOneObject) {
  HostCompileOptions options;
  auto flags = FlagsForTarget("cpu-x86_64");
  ASSERT_TRUE(flags.ok());
  options.flags = *flags;
  options.jobs = 2;
  auto so = CompileSharedObject(
      std::vector<std::string>{
          "extern \"C\" __attribute__((visibility(\"default\"))) int f() "
          "{ return 1; }",
          "extern \"C\" __attribute__((visibility(\"default\"))) int g() "
          "{ return 2; }"},
      options);
  ASSERT_TRUE(so.ok()) << so.status();
  EXPECT_EQ(so->substr(1, 3), "ELF");
}

}  // namespace
}  // namespace kiln::cpu
