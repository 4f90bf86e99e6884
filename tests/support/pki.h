// A private PKI for TLS tests, made by openssl for each run: a CA, a server
// certificate for localhost/127.0.0.1, client certificates signed by the CA
// (alice's, "CN=alice-laptop,O=Acme", and an unmapped stranger's) and one
// with alice's subject signed by another CA of the same name (an
// impersonation attempt: "mallory").
//
// Files are NAME.crt and NAME.key under path(); the constructor throws when
// openssl fails (a test fixture, not a library).
#pragma once

#include <string>

#include "support/process.h"

namespace strata::testing {

class Pki {
 public:
  Pki();
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
  // Issues one more certificate: `subject` in openssl's /K=V form, signed
  // by `ca` ("ca" or "rogue-ca"), `ext` "server.ext" or "client.ext".
  void Issue(const std::string& name, const std::string& subject, const std::string& ca, const std::string& ext);

 private:
  void Run(const std::string& command);
  void MakeCa(const std::string& name, const std::string& subject);
  TempDir dir_;
};

}  // namespace strata::testing
