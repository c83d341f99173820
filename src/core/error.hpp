#pragma once
// A validation/decoding failure described for an API answer:
// {"error": code, "message": message, "field": field}.

#include <string>

#include <boost/system/result.hpp>

namespace peyk::core {

struct error {
  std::string code;     // machine-readable, e.g. "invalid_field"
  std::string message;  // for a human
  std::string field;    // the offending field (dotted path), empty when not about one field
};

template <class T>
using expected = boost::system::result<T, error>;

}  // namespace peyk::core
