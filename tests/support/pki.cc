#include "support/pki.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace strata::testing {
namespace {
void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
}  // namespace

Pki::Pki() : dir_("strata-pki") {
  const std::string d = dir_.path();
  Write(d + "/server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  Write(d + "/client.ext", "extendedKeyUsage=clientAuth\n");
  MakeCa("ca", "/CN=Strata Test CA");
  MakeCa("rogue-ca", "/CN=Strata Test CA");  // same name, different key
  Issue("server", "/CN=localhost", "ca", "server.ext");
  Issue("alice", "/O=Acme/CN=alice-laptop", "ca", "client.ext");
  Issue("stranger", "/O=Acme/CN=stranger", "ca", "client.ext");
  Issue("mallory", "/O=Acme/CN=alice-laptop", "rogue-ca", "client.ext");
}

void Pki::Run(const std::string& command) {
  const std::string full = "cd " + dir_.path() + " && " + command + " >>openssl.log 2>&1";
  if (std::system(full.c_str()) != 0) throw std::runtime_error("openssl failed: " + command);
}

void Pki::MakeCa(const std::string& name, const std::string& subject) {
  Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " + name +
      ".key -out " + name + ".crt -subj '" + subject + "'");
}

void Pki::Issue(const std::string& name, const std::string& subject, const std::string& ca, const std::string& ext) {
  Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + name + ".key -out " + name +
      ".csr -subj '" + subject + "'");
  Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -CAcreateserial -days 2 -out " +
      name + ".crt -extfile " + ext);
}

}  // namespace strata::testing
