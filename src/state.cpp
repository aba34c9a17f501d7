#include "kad/state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "kad/bencode.hpp"
#include "kad/crypto.hpp"
#include "kad/journal.hpp"
#include "state_codec.hpp"

namespace kad {

namespace {

constexpr std::string_view kMagic = "KADSTATE";
constexpr std::size_t kDigest = 32;

std::int64_t unix_ms(WallClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallClock::time_point from_unix_ms(std::int64_t ms) {
    return WallClock::time_point(
        std::chrono::duration_cast<WallClock::duration>(std::chrono::milliseconds(ms)));
}

std::int64_t whole_ms(Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

bencode::Value detail::item_value(const SavedItem& it) {
    using bencode::Value;
    bencode::Dict item;
    item.emplace("e", Value(unix_ms(it.expires)));
    item.emplace("k", Value(it.key));
    item.emplace("o", Value(std::int64_t{it.original ? 1 : 0}));
    item.emplace("p", Value(unix_ms(it.published_at)));
    item.emplace("s", Value(it.seq));
    if (!it.signature.empty()) item.emplace("sig", Value(it.signature));
    item.emplace("t", Value(whole_ms(it.ttl)));
    item.emplace("v", Value(it.value));
    if (it.source) item.emplace("w", Value(it.source->compact()));
    return Value(std::move(item));
}

SavedItem to_saved(const StoredItem& item, TimePoint now, WallClock::time_point wall) {
    auto to_wall = [&](TimePoint t) {
        return wall + std::chrono::duration_cast<WallClock::duration>(t - now);
    };
    SavedItem si;
    si.key = item.key;
    si.value = item.value;
    si.seq = item.seq;
    si.expires = to_wall(item.expires);
    si.ttl = item.ttl;
    si.original = item.original;
    si.published_at = to_wall(item.published_at);
    if (!item.source.is_unspecified()) si.source = item.source;
    si.signature = item.signature;
    return si;
}

StoredItem from_saved(const SavedItem& saved, TimePoint now, WallClock::time_point wall) {
    auto to_steady = [&](WallClock::time_point t) {
        return now + std::chrono::duration_cast<Duration>(t - wall);
    };
    StoredItem item;
    item.key = saved.key;
    item.value = saved.value;
    item.seq = saved.seq;
    item.expires = to_steady(saved.expires);
    item.ttl = saved.ttl;
    item.stored_at = now;
    item.original = saved.original;
    item.published_at = to_steady(saved.published_at);
    if (saved.source) item.source = *saved.source;
    item.signature = saved.signature;
    return item;
}

std::chrono::nanoseconds ClockStepWatch::check(TimePoint now, WallClock::time_point wall) {
    using std::chrono::nanoseconds;
    const nanoseconds offset = std::chrono::duration_cast<nanoseconds>(wall.time_since_epoch()) -
                               std::chrono::duration_cast<nanoseconds>(now.time_since_epoch());
    if (!offset_) {
        offset_ = offset;
        return nanoseconds::zero();
    }
    // Measured from the last call, so that a slow drift (NTP slewing) never adds up to a step.
    const nanoseconds step = offset - *offset_;
    offset_ = offset;
    if (step <= tolerance_ && step >= -tolerance_) return nanoseconds::zero();
    return step;
}

std::string encode_state(const SavedState& s) {
    using bencode::Dict;
    using bencode::List;
    using bencode::Value;
    List contacts;
    for (const auto& c : s.contacts)
        contacts.emplace_back(std::string(c.id.raw()) + c.endpoint.compact());
    auto items_of = [](const std::vector<SavedItem>& saved) {
        List items;
        for (const auto& it : saved) items.emplace_back(detail::item_value(it));
        return items;
    };
    List items = items_of(s.items);
    List bep44 = items_of(s.bep44_items);
    Dict top;
    top.emplace("bep44", Value(std::move(bep44)));
    top.emplace("contacts", Value(std::move(contacts)));
    top.emplace("id", Value(std::string(s.id.raw())));
    top.emplace("items", Value(std::move(items)));
    top.emplace("port", Value(std::int64_t{s.port}));
    top.emplace("version", Value(SavedState::kVersion));
    const std::string payload = bencode::encode(Value(std::move(top)));
    const auto digest = sha256(payload);
    std::string out(kMagic);
    out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    out.append(payload);
    return out;
}

namespace {

Unexpected<std::string> malformed(const std::string& why) {
    return unexpected("malformed: " + why);
}

// The value at `key` of `d`, if it has that type.
const bencode::Value* field(const bencode::Dict& d, const char* key, bencode::Type type) {
    auto it = d.find(key);
    return it != d.end() && it->second.type() == type ? &it->second : nullptr;
}

// The payload, once the magic and the checksum are right.
Expected<std::string_view> checked_payload(std::string_view file) {
    if (file.size() < kMagic.size() + kDigest) return unexpected("too short");
    if (file.substr(0, kMagic.size()) != kMagic) return unexpected("not a kadnode state file");
    const std::string_view digest = file.substr(kMagic.size(), kDigest);
    const std::string_view payload = file.substr(kMagic.size() + kDigest);
    const auto actual = sha256(payload);
    if (!constant_time_equal(digest, std::string_view(reinterpret_cast<const char*>(actual.data()),
                                                      actual.size()))) {
        return unexpected("checksum mismatch (damaged or truncated)");
    }
    return payload;
}

Expected<krpc::NodeInfo> parse_contact(const bencode::Value& c) {
    if (c.type() != bencode::Type::String) return malformed("a contact is not a string");
    const std::string_view raw = c.as_string();
    if (raw.size() != krpc::kCompactNodeV4 && raw.size() != krpc::kCompactNodeV6) {
        return malformed("a contact has the wrong length");
    }
    return krpc::NodeInfo{*NodeId::from_bytes(raw.substr(0, 20)),
                          *Endpoint::from_compact(raw.substr(20))};
}

}  // namespace

Expected<SavedItem> detail::parse_item(const bencode::Value& v) {
    if (v.type() != bencode::Type::Dict) return malformed("an item is not a dictionary");
    const auto& item = v.as_dict();
    const auto* e = field(item, "e", bencode::Type::Integer);
    const auto* k = field(item, "k", bencode::Type::String);
    const auto* o = field(item, "o", bencode::Type::Integer);
    const auto* p = field(item, "p", bencode::Type::Integer);
    const auto* sq = field(item, "s", bencode::Type::Integer);
    const auto* t = field(item, "t", bencode::Type::Integer);
    const auto* val = field(item, "v", bencode::Type::String);
    if (!e || !k || !o || !p || !sq || !t || !val) return malformed("an item lacks a field");
    SavedItem si;
    si.key = k->as_string();
    si.value = val->as_string();
    si.seq = sq->as_int();
    si.expires = from_unix_ms(e->as_int());
    si.ttl = std::chrono::milliseconds(std::max<std::int64_t>(0, t->as_int()));
    si.original = o->as_int() != 0;
    si.published_at = from_unix_ms(p->as_int());
    // "w" came later in version 1: optional, and ignored when not an endpoint.
    if (const auto* w = field(item, "w", bencode::Type::String)) {
        si.source = Endpoint::from_compact(w->as_string());
    }
    // So did "sig" (BEP 44 mutable items); the node checks it when it restores the item.
    if (const auto* sig = field(item, "sig", bencode::Type::String)) {
        si.signature = sig->as_string();
    }
    return si;
}

namespace {

// Appends the items of a list to `out`; the error, if one is malformed.
std::optional<std::string> parse_items(const bencode::Value& list, std::vector<SavedItem>& out) {
    for (const auto& v : list.as_list()) {
        auto item = detail::parse_item(v);
        if (!item) return item.error();
        out.push_back(std::move(*item));
    }
    return std::nullopt;
}

}  // namespace

Expected<SavedState> decode_state(std::string_view file) {
    auto payload = checked_payload(file);
    if (!payload) return unexpected(payload.error());
    bencode::Limits limits;
    limits.max_depth = 4;
    limits.max_elements = 16'000'000;
    auto root = bencode::decode_value(*payload, limits);
    if (!root) return malformed(root.error().message());
    if (root->type() != bencode::Type::Dict) return malformed("not a dictionary");
    const auto& d = root->as_dict();
    const auto* version = field(d, "version", bencode::Type::Integer);
    if (!version) return malformed("no version");
    if (version->as_int() != SavedState::kVersion) {
        return unexpected("version " + std::to_string(version->as_int()) + " is not supported");
    }
    const auto* id = field(d, "id", bencode::Type::String);
    const auto* port = field(d, "port", bencode::Type::Integer);
    const auto* contacts = field(d, "contacts", bencode::Type::List);
    const auto* items = field(d, "items", bencode::Type::List);
    if (!id || !port || !contacts || !items)
        return malformed("missing id, port, contacts or items");
    SavedState s;
    auto parsed_id = NodeId::from_bytes(id->as_string());
    if (!parsed_id) return malformed("id is not 20 bytes");
    s.id = *parsed_id;
    if (port->as_int() < 0 || port->as_int() > 65535) return malformed("port out of range");
    s.port = static_cast<std::uint16_t>(port->as_int());
    for (const auto& c : contacts->as_list()) {
        auto contact = parse_contact(c);
        if (!contact) return unexpected(contact.error());
        s.contacts.push_back(*contact);
    }
    if (auto bad = parse_items(*items, s.items)) return unexpected(*bad);
    // "bep44" came later in version 1: a file without it holds no BEP 44 items.
    if (d.contains("bep44")) {
        const auto* bep44 = field(d, "bep44", bencode::Type::List);
        if (!bep44) return malformed("bep44 is not a list");
        if (auto bad = parse_items(*bep44, s.bep44_items)) return unexpected(*bad);
    }
    return s;
}

// ---- the directory ------------------------------------------------------------------------------

Expected<StateDir> StateDir::open(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return unexpected("cannot create " + path + ": " + ec.message());
    const std::string lock = path + "/lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return unexpected("cannot open " + lock + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {};
        const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
        ::close(fd);
        std::string who = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : std::string();
        while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
        return unexpected(path + " is in use by another kadnode" +
                          (who.empty() ? std::string() : " (pid " + who + ")"));
    }
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
        // The pid is only for the message above; the lock itself is what matters.
    }
    return StateDir(path, fd);
}

StateDir::StateDir(StateDir&& o) noexcept : path_(std::move(o.path_)), lock_fd_(o.lock_fd_) {
    o.lock_fd_ = -1;
}

StateDir::~StateDir() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream buf;
    buf << in.rdbuf();
    return std::move(buf).str();
}

}  // namespace

std::string StateDir::set_aside(const std::string& file, const char* why) {
    const std::string aside = file + "." + why + "-" +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                 WallClock::now().time_since_epoch())
                                                 .count());
    std::error_code ec;
    std::filesystem::rename(file, aside, ec);
    return ec ? "could not move it aside (" + ec.message() + ")" : "moved it to " + aside;
}

std::optional<SavedState> StateDir::load(std::string& warning) {
    replayed_ = 0;
    std::optional<SavedState> state;
    if (auto bytes = read_file(file())) {
        auto decoded = decode_state(*bytes);
        if (decoded) {
            state = std::move(*decoded);
        } else {
            warning = "state file " + file() + " is damaged (" + decoded.error() + "); " +
                      set_aside(file(), "damaged") + "; starting fresh";
        }
    }
    const auto journal = read_file(journal_file());
    if (!journal) return state;
    auto add = [&](const std::string& more) { warning += (warning.empty() ? "" : "; ") + more; };
    auto records = decode_journal(*journal);
    if (!records) {
        add("journal " + journal_file() + " is damaged (" + records.error() + "); " +
            set_aside(journal_file(), "damaged"));
        return state;
    }
    if (!state) {
        if (!records->records.empty()) {
            add("journal " + journal_file() + " has no state file to apply to; " +
                set_aside(journal_file(), "orphan"));
        }
        return state;
    }
    if (records->dropped > 0) {
        add("journal " + journal_file() + ": dropped a torn record at its end (" +
            std::to_string(records->dropped) + " bytes)");
    }
    apply_journal(*state, records->records);
    replayed_ = records->records.size();
    return state;
}

void StateDir::save(const SavedState& s) {
    write_file_atomically(file(), encode_state(s), 0644);
}

void write_file_atomically(const std::string& path, std::string_view bytes, unsigned mode) {
    const std::string tmp = path + ".tmp";
    auto fail = [&](const std::string& what) {
        throw std::system_error(errno, std::system_category(), what);
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) fail("cannot write " + tmp);
    // The mode applies only to a file open() creates: a leftover temporary keeps its own.
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
        ::close(fd);
        fail("cannot set the mode of " + tmp);
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            fail("cannot write " + tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        fail("cannot sync " + tmp);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp);
    // The rename itself must reach the disk too.
    const std::string parent = std::filesystem::path(path).parent_path().string();
    const int dir =
        ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
}

}  // namespace kad
