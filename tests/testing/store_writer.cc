#include "tests/testing/store_writer.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/process.h"

namespace kiln::testing {

absl::StatusOr<std::vector<WrittenEntry>> WriteEntries(
    const std::string& writer_bin, const std::string& dir,
    const std::vector<std::string>& specs) {
  std::vector<std::string> argv = {writer_bin, "--data-dir=" + dir};
  argv.insert(argv.end(), specs.begin(), specs.end());
  auto run = RunCommand(argv);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return absl::InternalError(absl::StrCat("admin_store_writer exited ",
                                            run->exit_code, ": ", run->err));
  }
  std::vector<WrittenEntry> out;
  for (absl::string_view line : absl::StrSplit(run->out, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() != 5 || f[0] != "ENTRY") continue;
    WrittenEntry w{f[1], f[2], f[3], 0};
    if (!absl::SimpleAtoi(f[4], &w.size)) {
      return absl::InternalError(absl::StrCat("bad ENTRY line: ", line));
    }
    out.push_back(w);
  }
  if (out.size() != specs.size()) {
    return absl::InternalError(
        absl::StrCat("admin_store_writer wrote ", out.size(), " entries for ",
                     specs.size(), " specs: ", run->out));
  }
  return out;
}

}  // namespace kiln::testing
