#pragma once
// Splits a command line as a POSIX shell would for plain words: whitespace separates words;
// '...' is literal; "..." allows \" \\ \$ and \` escapes; a backslash outside quotes escapes the
// next character. Each word remembers where it started in the line, so that a command can take
// "the rest of the line" verbatim.

#include <string>
#include <string_view>
#include <vector>

#include "kad/expected.hpp"

namespace kadnode {

struct Word {
    std::string text;     // after quote removal
    std::size_t begin;    // offset of the word's first character in the line
    bool quoted = false;  // any part of it was quoted or escaped
};

kad::Expected<std::vector<Word>> tokenize(std::string_view line);

}  // namespace kadnode
