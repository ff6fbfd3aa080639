#ifndef KILN_CLIENT_CPP_CLI_OUTPUT_H_
#define KILN_CLIENT_CPP_CLI_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace kiln::cli {

// A plain text table with left-aligned columns, sized to their widest cell.
class Table {
 public:
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// 1536 -> "1.5 KiB"; 64 << 20 -> "64 MiB".
std::string HumanBytes(int64_t bytes);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_OUTPUT_H_
