#ifndef KILN_CLIENT_CPP_CHANNEL_FLAGS_H_
#define KILN_CLIENT_CPP_CHANNEL_FLAGS_H_

#include "CLI/CLI.hpp"
#include "client/cpp/channel.h"

namespace kiln::client {

// Adds the connection flags of Kiln's command-line tools to `app`, bound to
// `options`: --token, --tls, --tls-ca, --tls-cert, --tls-key and
// --tls-server-name, each with its KILN_* environment variable (see
// ChannelOptions). --server stays with the tool, which may word its help
// differently.
void AddChannelFlags(CLI::App& app, ChannelOptions& options);

}  // namespace kiln::client

#endif  // KILN_CLIENT_CPP_CHANNEL_FLAGS_H_
