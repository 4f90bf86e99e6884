// Fuzz target: the token file an operator writes (YAML), then an
// authorization header checked against it and a certificate subject looked
// up. Bad files must come back as INVALID_ARGUMENT, never as a crash.
#include <cstdint>
#include <string_view>

#include "auth/tokens.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata;
  if (size > 16 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // The last line, if any, doubles as the header to authenticate.
  const size_t nl = text.rfind('\n');
  const std::string_view header = nl == std::string_view::npos ? text : text.substr(nl + 1);
  auto store = auth::TokenStore::Parse(text, "fuzz");
  if (!store.ok()) return 0;
  (void)(*store)->Authenticate(header);
  (void)(*store)->AuthenticateCertificate(header);
  if (auto who = (*store)->Authenticate("Bearer t"); who.ok()) {
    (void)who->InSchemaScope("billing.invoices");
    (void)who->InEnvironmentScope("prod");
  }
  return 0;
}
