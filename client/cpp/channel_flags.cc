#include "client/cpp/channel_flags.h"

namespace kiln::client {

void AddChannelFlags(CLI::App& app, ChannelOptions& options) {
  app.add_option("--token", options.token,
                 "Bearer token sent with every call (prefer KILN_TOKEN: "
                 "command lines are visible to other users)")
      ->envname("KILN_TOKEN");
  app.add_flag("--tls", options.tls,
               "Speak TLS, trusting the system's CAs unless --tls-ca is "
               "given (implied by the other --tls-* options)");
  app.add_option("--tls-ca", options.tls_ca,
                 "CA certificate (PEM) that signed the server's certificate")
      ->envname("KILN_TLS_CA");
  app.add_option("--tls-cert", options.tls_cert,
                 "Client certificate chain (PEM) for mutual TLS")
      ->envname("KILN_TLS_CERT");
  app.add_option("--tls-key", options.tls_key,
                 "Private key (PEM) of --tls-cert")
      ->envname("KILN_TLS_KEY");
  app.add_option("--tls-server-name", options.tls_server_name,
                 "Name to check the server's certificate against instead of "
                 "the --server host")
      ->envname("KILN_TLS_SERVER_NAME");
}

}  // namespace kiln::client
