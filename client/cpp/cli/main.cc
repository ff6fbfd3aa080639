// kiln: inspect and manage a kiln-server and its cache. See docs/cli.md.
#include <csignal>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "client/cpp/channel_flags.h"
#include "client/cpp/cli/commands.h"
#include "client/cpp/kiln_client.h"
#include "kiln/version.h"

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "kiln: error: " << status.message() << "\n";
  return 1;
}

void AddFilterFlags(CLI::App* cmd, kiln::cli::FilterFlags& f) {
  cmd->add_option("--graph", f.graph, "Only entries of this graph digest");
  cmd->add_option("--target", f.target,
                  "Only entries of this target (as `kiln ls` shows it)");
  cmd->add_option("--client", f.client,
                  "Only entries produced by this client id");
  cmd->add_option("--older-than", f.older_than,
                  "Only entries last used at least this long ago (90s, 15m, "
                  "2h, 7d)");
  cmd->add_option("--newer-than", f.newer_than,
                  "Only entries last used at most this long ago");
  cmd->add_option("--min-size", f.min_size,
                  "Only artifacts of at least this size (512, 64K, 1.5MiB)");
  cmd->add_option("--max-size", f.max_size,
                  "Only artifacts of at most this size");
}

void AddJsonFlag(CLI::App* cmd, bool& json) {
  cmd->add_flag("--json", json, "Print machine-readable JSON");
}

}  // namespace

int main(int argc, char** argv) {
  // A reader that goes away (`kiln ls | head`, a failing `dot`) must not
  // kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  kiln::cli::GlobalOptions options;
  CLI::App app{"kiln: inspect and manage a kiln-server and its cache.", "kiln"};
  app.set_version_flag("--version", std::string(kiln::kServerVersion));
  app.require_subcommand(1);
  // Global flags may also follow the subcommand (`kiln ls --server X`).
  app.fallthrough();
  app.add_option("--server", options.server, "kiln-server address HOST:PORT")
      ->envname("KILN_SERVER")
      ->capture_default_str();
  app.add_option("--timeout", options.timeout_s, "Seconds to wait per call")
      ->envname("KILN_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  kiln::client::AddChannelFlags(app, options.channel);
  AddJsonFlag(&app, options.json);

  CLI::App* status = app.add_subcommand(
      "status", "Show the server's health, version, backends and limits");
  AddJsonFlag(status, options.json);

  kiln::cli::LsOptions ls;
  CLI::App* ls_cmd = app.add_subcommand(
      "ls", "List cache entries (newest use first; every page)");
  AddFilterFlags(ls_cmd, ls.filter);
  ls_cmd->add_option("--sort", ls.sort, "last-used, size, created or hits")
      ->capture_default_str();
  ls_cmd->add_flag("--asc", ls.ascending,
                   "Smallest, oldest or least used first");
  ls_cmd->add_option("--limit", ls.limit, "Show at most N entries")
      ->check(CLI::NonNegativeNumber);
  ls_cmd
      ->add_option("--page-size", ls.page_size,
                   "Fetch one page of N entries (with --page-token for the "
                   "next)")
      ->check(CLI::Range(1, 1000));
  ls_cmd->add_option("--page-token", ls.page_token,
                     "Fetch the page after this token");
  ls_cmd->add_flag("--wide", ls.wide, "Full keys and digests");
  AddJsonFlag(ls_cmd, options.json);

  kiln::cli::ShowOptions show;
  CLI::App* show_cmd = app.add_subcommand(
      "show", "Show one entry: guards in words, outputs, graph");
  show_cmd->add_option("key", show.key, "Artifact key (or a unique prefix)")
      ->required();
  show_cmd->add_flag("--graph", show.graph, "Print the graph as IR text");
  show_cmd->add_flag("--dot", show.dot,
                     "Print the fused graph as Graphviz DOT");
  show_cmd->add_option("--svg", show.svg,
                       "Draw the fused graph into this SVG file (Graphviz)");
  AddJsonFlag(show_cmd, options.json);

  CLI::App* stats_cmd =
      app.add_subcommand("stats", "Cache-wide and per-target counters");
  AddJsonFlag(stats_cmd, options.json);

  kiln::cli::ExplainOptions explain;
  CLI::App* explain_cmd = app.add_subcommand(
      "explain",
      "Say, entry by entry, whether a call would hit the cache and why not");
  explain_cmd->add_option("graph", explain.graph_digest, "Graph digest")
      ->required();
  explain_cmd->add_option("--target", explain.target,
                          "Target string, as `kiln ls` shows it");
  explain_cmd->add_option("--backend", explain.backend,
                          "Or a backend (cpu, cuda, interpreter), resolved as "
                          "Compile would");
  explain_cmd->add_option("--option", explain.options,
                          "Compiler option KEY=VALUE (with --backend)");
  explain_cmd->add_option("--device-index", explain.device_index,
                          "CUDA device (with --backend cuda)");
  kiln::cli::SignatureFlags& sig = explain.signature;
  explain_cmd->add_option("--signature", sig.file,
                          "The call as a kiln.v1.CallSignature file (JSON, "
                          "text .txtpb or binary .pb)");
  explain_cmd->add_option("--input", sig.inputs,
                          "One per argument: f32[8,16], f16[4,3]{1,4}@cuda:0"
                          "+grad, sym:8, int:3, float:0.5, bool:true, str:s, "
                          "none");
  explain_cmd->add_flag("--no-grad", sig.no_grad, "Grad mode off");
  explain_cmd->add_option("--torch-function", sig.torch_function,
                          "enabled, subclass-disabled or all-disabled");
  explain_cmd->add_option("--default-dtype", sig.default_dtype,
                          "torch.get_default_dtype() (f32, f64, ...)");
  explain_cmd->add_flag("--deterministic", sig.deterministic,
                        "Deterministic algorithms on");
  explain_cmd->add_option("--matmul-precision", sig.matmul_precision,
                          "highest, high or medium");
  explain_cmd->add_option("--autocast", sig.autocast,
                          "Autocast on for a device type: DEVICE=DTYPE "
                          "(cuda=f16)");
  AddJsonFlag(explain_cmd, options.json);

  kiln::cli::EvictOptions evict;
  CLI::App* evict_cmd = app.add_subcommand(
      "evict",
      "Remove entries: one KEY, --graph, --older-than, filters, --all");
  evict_cmd->add_option("key", evict.key, "Artifact key (or a unique prefix)");
  evict_cmd->add_flag("--all", evict.all, "Every entry");
  AddFilterFlags(evict_cmd, evict.filter);
  evict_cmd->add_flag("--dry-run", evict.dry_run,
                      "Only say what would be evicted");
  AddJsonFlag(evict_cmd, options.json);

  kiln::cli::TransferOptions export_options;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write entries and their artifacts into a bundle file");
  export_cmd->add_option("file", export_options.file, "Bundle file to write")
      ->required();
  AddFilterFlags(export_cmd, export_options.filter);
  export_cmd
      ->add_option("--progress", export_options.progress,
                   "auto (on a terminal), always or never")
      ->capture_default_str();
  AddJsonFlag(export_cmd, options.json);

  kiln::cli::TransferOptions import_options;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "Add the entries of a bundle file made by `kiln export`");
  import_cmd->add_option("file", import_options.file, "Bundle file to read")
      ->required()
      ->check(CLI::ExistingFile);
  import_cmd
      ->add_option("--progress", import_options.progress,
                   "auto (on a terminal), always or never")
      ->capture_default_str();
  AddJsonFlag(import_cmd, options.json);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << "kiln " << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "kiln: error: " << e.what() << " (see kiln --help)\n";
    return 2;
  }

  auto client = kiln::cli::Connect(options);
  if (!client.ok()) return Fail(client.status());
  kiln::client::KilnClient& c = **client;

  absl::StatusOr<int> code = absl::UnimplementedError("unknown command");
  if (status->parsed()) {
    code = kiln::cli::RunStatus(c, options, std::cout);
  } else if (ls_cmd->parsed()) {
    code = kiln::cli::RunLs(c, options, ls, std::cout);
  } else if (show_cmd->parsed()) {
    code = kiln::cli::RunShow(c, options, show, std::cout);
  } else if (stats_cmd->parsed()) {
    code = kiln::cli::RunStats(c, options, std::cout);
  } else if (explain_cmd->parsed()) {
    code = kiln::cli::RunExplain(c, options, explain, std::cout);
  } else if (evict_cmd->parsed()) {
    code = kiln::cli::RunEvict(c, options, evict, std::cout);
  } else if (export_cmd->parsed()) {
    code =
        kiln::cli::RunExport(c, options, export_options, std::cout, std::cerr);
  } else if (import_cmd->parsed()) {
    code =
        kiln::cli::RunImport(c, options, import_options, std::cout, std::cerr);
  }
  if (!code.ok()) return Fail(code.status());
  return *code;
}
