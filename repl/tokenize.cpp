#include "tokenize.hpp"

namespace kadnode {

kad::Expected<std::vector<Word>> tokenize(std::string_view line) {
    std::vector<Word> words;
    std::size_t i = 0;
    const std::size_t n = line.size();
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (i < n) {
        while (i < n && space(line[i])) ++i;
        if (i >= n) break;
        Word w{{}, i, false};
        while (i < n && !space(line[i])) {
            const char c = line[i];
            if (c == '\'') {
                const auto close = line.find('\'', i + 1);
                if (close == std::string_view::npos) {
                    return kad::unexpected("unterminated ' quote");
                }
                w.text.append(line.substr(i + 1, close - i - 1));
                w.quoted = true;
                i = close + 1;
            } else if (c == '"') {
                ++i;
                bool closed = false;
                while (i < n) {
                    if (line[i] == '"') {
                        closed = true;
                        ++i;
                        break;
                    }
                    if (line[i] == '\\' && i + 1 < n &&
                        (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' ||
                         line[i + 1] == '`')) {
                        w.text.push_back(line[i + 1]);
                        i += 2;
                        continue;
                    }
                    w.text.push_back(line[i++]);
                }
                if (!closed) return kad::unexpected("unterminated \" quote");
                w.quoted = true;
            } else if (c == '\\') {
                if (i + 1 >= n) return kad::unexpected("a backslash at the end of the line");
                w.text.push_back(line[i + 1]);
                w.quoted = true;
                i += 2;
            } else {
                w.text.push_back(c);
                ++i;
            }
        }
        words.push_back(std::move(w));
    }
    return words;
}

}  // namespace kadnode
