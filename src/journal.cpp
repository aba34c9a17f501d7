#include "kad/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <system_error>

#include "kad/bencode.hpp"
#include "kad/crypto.hpp"
#include "state_codec.hpp"

namespace kad {

namespace {

constexpr std::string_view kHeader = "KADJRNL1";  // the format, and its version
constexpr std::size_t kLength = 4;
constexpr std::size_t kCheck = 8;
// No record is larger: an item is bounded by the store's limits (32 KiB values at most).
constexpr std::size_t kMaxRecord = std::size_t{1} << 20;

std::string check_of(std::string_view payload) {
    const auto digest = sha256(payload);
    return std::string(reinterpret_cast<const char*>(digest.data()), kCheck);
}

// Where an item lives in its store (kad/storage.hpp): SHA-1 of the key; for a BEP 44 immutable
// item (no key), SHA-1 of the value.
NodeId target_of(const SavedItem& item, bool bep44) {
    return NodeId::from_key(bep44 && item.key.empty() ? item.value : item.key);
}

std::optional<JournalRecord> parse_record(std::string_view payload) {
    bencode::Limits limits;
    limits.max_depth = 3;
    auto root = bencode::decode_value(payload, limits);
    if (!root || root->type() != bencode::Type::Dict) return std::nullopt;
    const auto& d = root->as_dict();
    auto field = [&](const char* key, bencode::Type type) -> const bencode::Value* {
        auto it = d.find(key);
        return it != d.end() && it->second.type() == type ? &it->second : nullptr;
    };
    const auto* op = field("op", bencode::Type::String);
    const auto* store = field("d", bencode::Type::Integer);
    const auto* target = field("t", bencode::Type::String);
    if (!op || !store || !target) return std::nullopt;
    auto id = NodeId::from_bytes(target->as_string());
    if (!id) return std::nullopt;
    JournalRecord r;
    r.bep44 = store->as_int() == 1;
    r.target = *id;
    if (op->as_string() == "x") {
        r.op = JournalRecord::Op::Erase;
        return r;
    }
    if (op->as_string() == "n") {
        const auto* at = field("c", bencode::Type::String);
        auto endpoint = at ? Endpoint::from_compact(at->as_string()) : std::nullopt;
        if (!endpoint) return std::nullopt;
        r.op = JournalRecord::Op::Contact;
        r.endpoint = *endpoint;
        return r;
    }
    const auto* item = field("i", bencode::Type::Dict);
    if (op->as_string() != "p" || !item) return std::nullopt;
    auto parsed = detail::parse_item(*item);
    if (!parsed) return std::nullopt;
    r.item = std::move(*parsed);
    return r;
}

}  // namespace

std::string encode_record(const JournalRecord& r) {
    using bencode::Value;
    bencode::Dict d;
    const char* op = "p";
    if (r.op == JournalRecord::Op::Contact) {
        op = "n";
        d.emplace("c", Value(r.endpoint.compact()));
    }
    d.emplace("d", Value(std::int64_t{r.bep44 ? 1 : 0}));
    if (r.op == JournalRecord::Op::Put) d.emplace("i", detail::item_value(r.item));
    if (r.op == JournalRecord::Op::Erase) op = "x";
    d.emplace("op", Value(std::string(op)));
    d.emplace("t", Value(std::string(r.target.raw())));
    const std::string payload = bencode::encode(Value(std::move(d)));
    std::string out;
    out.reserve(kLength + kCheck + payload.size());
    const auto n = static_cast<std::uint32_t>(payload.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
    out += check_of(payload);
    out += payload;
    return out;
}

Expected<DecodedJournal> decode_journal(std::string_view file) {
    DecodedJournal out;
    if (file.empty()) return out;
    if (file.substr(0, kHeader.size()) != kHeader) {
        // A header cut short by a crash is a journal with nothing in it.
        if (file.size() < kHeader.size() && kHeader.substr(0, file.size()) == file) {
            out.dropped = file.size();
            return out;
        }
        return unexpected("not a kadnode journal");
    }
    std::size_t at = kHeader.size();
    out.intact = at;
    while (file.size() - at >= kLength + kCheck) {
        std::uint32_t n = 0;
        for (std::size_t i = 0; i < kLength; ++i) {
            n = (n << 8) | static_cast<unsigned char>(file[at + i]);
        }
        if (n > kMaxRecord || file.size() - at - kLength - kCheck < n) break;
        const std::string_view check = file.substr(at + kLength, kCheck);
        const std::string_view payload = file.substr(at + kLength + kCheck, n);
        if (check_of(payload) != check) break;
        auto record = parse_record(payload);
        if (!record) break;
        out.records.push_back(std::move(*record));
        at += kLength + kCheck + n;
        out.intact = at;
    }
    out.dropped = file.size() - out.intact;
    return out;
}

void apply_journal(SavedState& state, const std::vector<JournalRecord>& records) {
    // Index both lists by target, apply in order, then put the survivors back.
    struct Store {
        std::vector<SavedItem>& list;
        std::map<NodeId, SavedItem> by_target;
    };
    Store stores[2] = {{state.items, {}}, {state.bep44_items, {}}};
    for (int i = 0; i < 2; ++i) {
        for (auto& item : stores[i].list) {
            const NodeId t = target_of(item, i == 1);
            stores[i].by_target.insert_or_assign(t, std::move(item));
        }
    }
    for (const auto& r : records) {
        if (r.op == JournalRecord::Op::Contact) {
            const bool known =
                std::any_of(state.contacts.begin(), state.contacts.end(),
                            [&](const krpc::NodeInfo& c) { return c.id == r.target; });
            if (!known) state.contacts.push_back({r.target, r.endpoint});
            continue;
        }
        auto& map = stores[r.bep44 ? 1 : 0].by_target;
        if (r.op == JournalRecord::Op::Erase) {
            map.erase(r.target);
        } else {
            map.insert_or_assign(r.target, r.item);
        }
    }
    for (auto& s : stores) {
        s.list.clear();
        for (auto& [t, item] : s.by_target) s.list.push_back(std::move(item));
    }
}

Expected<JournalSync> parse_sync(std::string_view text) {
    if (text == "always") return JournalSync{SyncPolicy::Always, {}};
    if (text == "never") return JournalSync{SyncPolicy::Never, {}};
    std::int64_t n = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, n);
    const std::string_view unit(p, static_cast<std::size_t>(end - p));
    if (ec != std::errc() || p == text.data() || (unit != "" && unit != "ms" && unit != "s")) {
        return unexpected("'" + std::string(text) +
                          "' is not always, never or an interval (250ms, 1s)");
    }
    const std::int64_t most = unit == "s" ? 3600 : 3'600'000;
    if (n < 1 || n > most) return unexpected("the interval must be 1 ms to 1 hour");
    if (unit == "s") n *= 1000;
    return JournalSync{SyncPolicy::Interval, std::chrono::milliseconds(n)};
}

std::string to_string(const JournalSync& s) {
    switch (s.policy) {
        case SyncPolicy::Always:
            return "always";
        case SyncPolicy::Never:
            return "never";
        case SyncPolicy::Interval:
            break;
    }
    return std::to_string(s.interval.count()) + "ms";
}

// ---- the file -----------------------------------------------------------------------------------

Expected<Journal> Journal::open(const std::string& path, JournalSync sync) {
    const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return unexpected("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        return unexpected("cannot read " + path + ": " + why);
    }
    Journal j(path, fd, sync, static_cast<std::uint64_t>(st.st_size));
    if (st.st_size == 0) {
        try {
            j.write_all(kHeader);
        } catch (const std::system_error& e) {
            return unexpected(e.what());
        }
        j.bytes_ = kHeader.size();
    }
    return j;
}

Journal::Journal(Journal&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(o.fd_),
      sync_(o.sync_),
      bytes_(o.bytes_),
      records_(o.records_),
      syncs_(o.syncs_),
      synced_(o.synced_),
      dirty_(o.dirty_),
      need_header_(o.need_header_) {
    o.fd_ = -1;
}

Journal::~Journal() {
    if (fd_ < 0) return;
    if (dirty_ && sync_.policy != SyncPolicy::Never) ::fdatasync(fd_);
    ::close(fd_);
}

void Journal::write_all(std::string_view bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::system_category(), "cannot write " + path_);
        }
        done += static_cast<std::size_t>(n);
    }
    dirty_ = true;
}

void Journal::append(const JournalRecord& r) {
    if (need_header_) {
        write_all(kHeader);
        need_header_ = false;
        bytes_ = kHeader.size();
    }
    const std::string framed = encode_record(r);
    try {
        write_all(framed);
    } catch (const std::system_error&) {
        // Never leave half a record in the middle: replay would stop there, and drop every
        // record written after it.
        if (::ftruncate(fd_, static_cast<off_t>(bytes_)) != 0) need_header_ = bytes_ == 0;
        throw;
    }
    bytes_ += framed.size();
    ++records_;
    if (sync_.policy == SyncPolicy::Always) sync();
}

void Journal::sync() {
    if (!dirty_) return;
    if (::fdatasync(fd_) != 0) {
        throw std::system_error(errno, std::system_category(), "cannot sync " + path_);
    }
    dirty_ = false;
    ++syncs_;
    synced_ = bytes_;
}

void Journal::clear() {
    if (::ftruncate(fd_, 0) != 0) {
        throw std::system_error(errno, std::system_category(), "cannot empty " + path_);
    }
    // Empty now: the header goes first, here or before the next record if this write fails.
    bytes_ = 0;
    synced_ = 0;
    need_header_ = true;
    write_all(kHeader);
    need_header_ = false;
    bytes_ = kHeader.size();
}

}  // namespace kad
