// ls: the items a node stores. A store may hold 100,000 items of 1,000 bytes, so nothing here
// copies an item: the listing sorts pointers, shows a bounded number of them in one reply, and
// streams every one (--limit all) through the Output, a line at a time.

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "command_util.hpp"

namespace kadnode {

namespace {

constexpr std::size_t kDefaultLimit = 100;  // items of each kind, without --limit
constexpr std::size_t kValueShown = 60;     // bytes of a value, in text

struct LsArgs {
    std::size_t limit = kDefaultLimit;  // 0: every item
    std::optional<std::string> pattern;
    bool full = false;      // values whole, however long
    std::size_t width = 0;  // the terminal's columns; 0: none
};

// The columns a value may take on a line with `fixed` other columns: all with --full; else
// what fits the terminal (at least 8), or kValueShown without one.
std::size_t value_room(const LsArgs& args, std::size_t fixed, std::string_view value) {
    if (args.full) return std::string_view::npos;
    if (args.width == 0) return kValueShown;
    // The quotes, the ellipsis, and " (N bytes)" after a value cut.
    const std::size_t note = 12 + std::to_string(value.size()).size();
    constexpr std::size_t kLeast = 8;
    if (fixed + quoted_width(value) <= args.width) return std::string_view::npos;  // whole
    return args.width > fixed + note + kLeast ? args.width - fixed - note : kLeast;
}

kad::Expected<LsArgs> parse_ls(const Args& a) {
    LsArgs out;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const bool option = a.option(i);
        if (option && a[i] == "--full") {
            out.full = true;
        } else if (option && a[i] == "--limit" && i + 1 < a.size()) {
            const std::string& v = a[++i];
            out.limit = 0;
            if (v == "all") continue;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out.limit);
            if (ec != std::errc() || end != v.data() + v.size()) {
                return kad::unexpected("bad --limit '" + v +
                                       "': expected a number of items, or all (" +
                                       usage_text("ls") + ")");
            }
        } else if (option || out.pattern) {
            return kad::unexpected(usage_text("ls"));
        } else {
            out.pattern = a[i];
        }
    }
    return out;
}

// A glob as the shell has it, on the bytes of a key up to its first NUL if it has one.
bool matches(const std::optional<std::string>& pattern, const std::string& s) {
    return !pattern || ::fnmatch(pattern->c_str(), s.c_str(), 0) == 0;
}

using Entry = const kad::Storage::Map::value_type*;

struct Selection {
    std::vector<Entry> shown;  // in order
    std::size_t matched = 0;
};

// The first `limit` (0: all) of the entries that match, in order, and how many matched. The
// sort is over pointers, and partial when there is a limit.
template <class Matches, class Less>
Selection select_entries(const kad::Storage::Map& map, std::size_t limit, Matches match,
                         Less less) {
    Selection s;
    for (const auto& e : map) {
        if (match(&e)) s.shown.push_back(&e);
    }
    s.matched = s.shown.size();
    if (limit == 0 || limit >= s.matched) {
        std::sort(s.shown.begin(), s.shown.end(), less);
    } else {
        const auto end = s.shown.begin() + static_cast<std::ptrdiff_t>(limit);
        std::partial_sort(s.shown.begin(), end, s.shown.end(), less);
        s.shown.erase(end, s.shown.end());
    }
    return s;
}

// The two kinds of item ls lists: their names, the field of the reply that lists them, and the
// field of a streamed line that holds one.
struct Kind {
    const char* one;
    const char* many;
    const char* list;
    const char* item;
};
constexpr Kind kItems{"item", "items", "items", "item"};
constexpr Kind kBep44{"BEP 44 item", "BEP 44 items", "bep44", "bep44_item"};

// "250 items, showing the first 100 (...)"; "3 items match "k*" (of 250)".
std::string header(const Kind& kind, const Selection& s, std::size_t total,
                   const std::optional<std::string>& pattern) {
    std::string text = plural(s.matched, kind.one, kind.many);
    if (pattern) {
        text += std::string(s.matched == 1 ? " matches " : " match ") + quote(*pattern) + " (of " +
                std::to_string(total) + ")";
    }
    if (s.shown.size() < s.matched) {
        text += ", showing the first " + std::to_string(s.shown.size()) +
                " (ls --limit N, or --limit all)";
    }
    return text;
}

// Where the lines go: into one reply for a bounded listing, or, for every item, out through
// `output` as they are made, so that nothing here grows with the store.
class Listing {
public:
    explicit Listing(const Output* stream) : stream_(stream) {
        if (!stream_) data_ = {{kItems.list, json::array()}, {kBep44.list, json::array()}};
    }

    // A line for a person only (a header).
    void line(std::string text) {
        if (stream_) return (*stream_)(part("ls", std::move(text)));
        text_ += (text_.empty() ? "" : "\n") + text;
    }

    // An item: in its kind's list in the reply, or streamed as one line.
    void item(const Kind& kind, json j, std::string text) {
        if (stream_) return (*stream_)(part("ls", std::move(text), {{kind.item, std::move(j)}}));
        data_[kind.list].push_back(std::move(j));
        text_ += "\n" + text;
    }

    Reply finish(const json& summary) {
        for (auto it = summary.begin(); it != summary.end(); ++it) data_[it.key()] = it.value();
        return ok("ls", std::move(text_), std::move(data_));
    }

private:
    const Output* stream_;
    std::string text_;
    json data_ = json::object();
};

// kadnode's items, by key. Returns how many matched.
std::size_t list_items(const kad::Storage& store, const LsArgs& args, kad::TimePoint now,
                       Listing& out) {
    const Selection s = select_entries(
        store.items(), args.limit, [&](Entry e) { return matches(args.pattern, e->second.key); },
        [](Entry x, Entry y) { return x->second.key < y->second.key; });
    out.line(header(kItems, s, store.size(), args.pattern));
    for (Entry e : s.shown) {
        const kad::StoredItem& it = e->second;
        const auto ttl = it.expires - now;
        const std::string key = "  " + quote(it.key) + " = ";
        const std::string about = "  (seq " + std::to_string(it.seq) + ", expires in " +
                                  span_text(ttl) + (it.original ? ", published here" : "") + ")";
        out.item(kItems,
                 {{"key", it.key},
                  {"value", it.value},
                  {"seq", it.seq},
                  {"ttl_s", std::chrono::duration_cast<std::chrono::seconds>(ttl).count()},
                  {"original", it.original},
                  {"target", it.target.to_hex()}},
                 key + quote_cut(it.value, value_room(args, key.size() + about.size(), it.value)) +
                     about);
    }
    return s.matched;
}

// The BEP 44 items, by target; their values are bencoded, shown as a person reads them. Returns
// how many matched; nothing is shown if there are none at all.
std::size_t list_bep44(const kad::Node& node, const LsArgs& args, kad::TimePoint now,
                       Listing& out) {
    const kad::Storage& store = node.item_store();
    if (store.size() == 0) return 0;
    const Selection s = select_entries(
        store.items(), args.limit,
        [&](Entry e) { return matches(args.pattern, e->first.to_hex()); },
        [](Entry x, Entry y) { return x->first < y->first; });
    out.line(header(kBep44, s, store.size(), args.pattern));
    for (Entry e : s.shown) {
        const auto& [target, item] = *e;
        const bool is_mutable = !item.signature.empty();
        const auto ttl = item.expires - now;
        json j = {{"target", target.to_hex()},
                  {"mutable", is_mutable},
                  {"bencoded", item.value},
                  {"ttl_s", std::chrono::duration_cast<std::chrono::seconds>(ttl).count()},
                  {"original", item.original}};
        std::string about =
            is_mutable ? "  (mutable, seq " + std::to_string(item.seq) + ", " : "  (immutable, ";
        about += "expires in " + span_text(ttl);
        if (is_mutable) j["seq"] = item.seq;
        if (auto due = node.item_refresh().due(target)) {
            // Ours: put again before it expires, here and on the nodes nearest it.
            const auto in = std::max(kad::Duration::zero(), *due - now);
            j["refresh_in_s"] = std::chrono::duration_cast<std::chrono::seconds>(in).count();
            about += ", published here, put again in " + span_text(in);
        }
        about += ")";
        const std::string at = "  " + target.to_hex() + "  ";
        out.item(
            kBep44, std::move(j),
            at + bencoded_text(item.value, value_room(args, at.size() + about.size(), item.value)) +
                about);
    }
    return s.matched;
}

}  // namespace

void handlers::ls(const Call& c) {
    auto parsed = parse_ls(c.a);
    if (!parsed) return c.refuse(parsed.error());
    parsed->width = c.width;
    const LsArgs& args = *parsed;
    const kad::Node& node = c.node.node();
    const Output& output = c.output;
    const auto now = kad::Clock::now();
    // Every item streams (where there is an Output); a bounded listing is one reply, as every
    // other command's.
    Listing out(args.limit == 0 && output ? &output : nullptr);
    const std::size_t items = list_items(node.storage(), args, now, out);
    const std::size_t bep44 = list_bep44(node, args, now, out);
    const bool more = args.limit != 0 && (items > args.limit || bep44 > args.limit);
    json summary = {
        {"items_matched", items}, {"bep44_matched", bep44}, {"limit", args.limit}, {"more", more}};
    if (args.pattern) summary["pattern"] = *args.pattern;
    c.done(out.finish(summary));
}

}  // namespace kadnode
