#include "sql/fingerprint.h"

extern "C" {
#include <pg_query.h>
}

#include <openssl/evp.h>

#include <cctype>

#include "fmt/format.h"
#include "pg_query/pg_query.pb.h"
#include "sql/validate.h"

namespace strata::sql {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Appends the normalized tokens of `sql` to *out; `depth` bounds recursion
// into nested dollar-quoted bodies.
absl::Status AppendTokens(std::string_view sql, int depth, std::string* out) {
  const std::string text(sql);
  PgQueryScanResult result = pg_query_scan(text.c_str());
  if (result.error) {
    const LineColumn lc = LineColumnAt(text, result.error->cursorpos);
    absl::Status s = absl::InvalidArgumentError(
        fmt::format("{} (line {}, column {})", result.error->message, lc.line, lc.column));
    pg_query_free_scan_result(result);
    return s;
  }
  pg_query::ScanResult scan;
  const bool ok = scan.ParseFromArray(result.pbuf.data, static_cast<int>(result.pbuf.len));
  pg_query_free_scan_result(result);
  if (!ok) return absl::InternalError("libpg_query returned scan tokens that do not decode");

  // Whether the statement so far creates a routine (its dollar-quoted
  // strings are bodies) and whether tokens follow the last ';'.
  bool routine = false;
  std::vector<std::string> words;  // first keywords of the current statement
  int n = scan.tokens_size();
  // Drop trailing ';' tokens.
  while (n > 0 && scan.tokens(n - 1).token() == pg_query::ASCII_59) --n;
  for (int i = 0; i < n; ++i) {
    const auto& t = scan.tokens(i);
    if (t.token() == pg_query::SQL_COMMENT || t.token() == pg_query::C_COMMENT) continue;
    std::string_view raw = std::string_view(text).substr(t.start(), t.end() - t.start());
    std::string tok;
    if (t.keyword_kind() != pg_query::NO_KEYWORD) {
      tok = Lower(raw);
      if (words.size() < 4) words.push_back(tok);
      if (words.size() >= 1 && (words[0] == "do" ||
                                (words[0] == "create" && (tok == "function" || tok == "procedure"))))
        routine = true;
    } else if (t.token() == pg_query::IDENT && !raw.empty() && raw[0] != '"') {
      tok = Lower(raw);
    } else if (t.token() == pg_query::SCONST && routine && depth < 2 && !raw.empty() && raw[0] == '$') {
      // $tag$ body $tag$: normalize the body's own tokens.
      const size_t open = raw.find('$', 1);
      const std::string_view tag = raw.substr(0, open + 1);
      std::string_view body = raw.substr(tag.size(), raw.size() - 2 * tag.size());
      std::string inner;
      if (AppendTokens(body, depth + 1, &inner).ok()) {
        tok = fmt::format("$$ {} $$", inner);
      } else {
        tok = std::string(raw);
      }
    } else {
      tok = std::string(raw);
    }
    if (t.token() == pg_query::ASCII_59) {
      routine = false;
      words.clear();
    }
    if (!out->empty() && out->back() != ' ') out->push_back(' ');
    out->append(tok);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> NormalizeSql(std::string_view sql) {
  std::string out;
  if (absl::Status s = AppendTokens(sql, 0, &out); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> Fingerprint(std::string_view sql) {
  auto normalized = NormalizeSql(sql);
  if (!normalized.ok()) return normalized.status();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(normalized->data(), normalized->size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace strata::sql
