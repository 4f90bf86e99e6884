// libpg_query's JSON parse tree read into its protobuf messages.
//
// Why: libpg_query's protobuf output packs nested messages with protobuf-c,
// which computes every sub-message's size again at each level above it; on
// view and function definitions that was a third of the time of analyzing a
// dump. Its JSON output is written in one pass and names fields exactly as
// the protobuf's json_name, so it can be read straight into the same
// messages (tests compare both forms of every test schema statement).
#pragma once

#include <string>
#include <string_view>

#include "pg_query/pg_query.pb.h"

namespace strata::sql {

// Reads libpg_query's JSON (pg_query_parse) into `out`. False when the
// text is not the JSON it writes (callers fall back to the protobuf form).
bool DecodeJsonParseTree(std::string_view json, pg_query::ParseResult* out);

// Reads the JSON string starting at json[*pos] (a '"'), unescaped, into
// *out and moves *pos past it. False when it is not a complete string.
bool ReadJsonString(std::string_view json, size_t* pos, std::string* out);

}  // namespace strata::sql
