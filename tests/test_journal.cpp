// The state directory's journal: records, torn tails, replay over the snapshot, the file, and
// a node that journals every store before answering it.

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "helpers.hpp"
#include "kad/journal.hpp"
#include "kad/runtime.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

SavedItem item(const std::string& key, const std::string& value, std::int64_t seq) {
    SavedItem it;
    it.key = key;
    it.value = value;
    it.seq = seq;
    it.expires = WallClock::time_point(std::chrono::milliseconds(1'800'000'000'000));
    it.ttl = 24h;
    it.published_at = WallClock::time_point(std::chrono::milliseconds(1'799'990'000'000));
    return it;
}

JournalRecord put(const std::string& key, const std::string& value, std::int64_t seq) {
    JournalRecord r;
    r.target = NodeId::from_key(key);
    r.item = item(key, value, seq);
    return r;
}

JournalRecord erase(const std::string& key) {
    JournalRecord r;
    r.op = JournalRecord::Op::Erase;
    r.target = NodeId::from_key(key);
    return r;
}

const std::string kHeader = "KADJRNL1";

std::string journal_of(const std::vector<JournalRecord>& records) {
    std::string out = kHeader;
    for (const auto& r : records) out += encode_record(r);
    return out;
}

std::string temp_dir() {
    auto p = std::filesystem::temp_directory_path() /
             ("kad-journal-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::remove_all(p);
    return p.string();
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
}

RuntimeConfig loopback() {
    RuntimeConfig c;
    c.bind = *Endpoint::parse("127.0.0.1:0");
    return c;
}

// A node journaling into `journal` and a second node that joined through it, on one io_context.
struct JournaledPair {
    boost::asio::io_context io;
    AsioNode holder;
    AsioNode writer;

    explicit JournaledPair(Journal& journal) : holder(io, loopback()), writer(io, loopback()) {
        holder.set_journal(&journal);
        std::optional<BootstrapResult> joined;
        writer.async_bootstrap({{holder.local_endpoint(), holder.id()}},
                               [&](const BootstrapResult& r) { joined = r; });
        while (!joined && io.run_one_for(2s) > 0) {
        }
        REQUIRE(joined);
    }
    ~JournaledPair() { holder.set_journal(nullptr); }
    JournaledPair(const JournaledPair&) = delete;
    JournaledPair& operator=(const JournaledPair&) = delete;

    // Runs until the writer's put of key = value completes.
    PutResult put(const std::string& key, const std::string& value,
                  const std::function<void(const PutResult&)>& then = {}) {
        std::optional<PutResult> result;
        writer.async_put(key, value, {}, [&](const PutResult& r) {
            result = r;
            if (then) then(r);
        });
        while (!result && io.run_one_for(2s) > 0) {
        }
        REQUIRE(result);
        return *result;
    }
};

}  // namespace

TEST_CASE("journal records decode to what was written", "[journal]") {
    JournalRecord p = put("k", std::string("binary\0v", 8), 3);
    p.item.original = true;
    p.item.source = ep("192.0.2.9:6881");
    JournalRecord b = put("", "3:abc", 0);
    b.bep44 = true;
    b.target = NodeId::from_key("3:abc");
    JournalRecord c;
    c.op = JournalRecord::Op::Contact;
    c.target = id_from(9);
    c.endpoint = ep("[fd00::9]:6881");
    auto back = decode_journal(journal_of({p, erase("gone"), b, c}));
    REQUIRE(back);
    CHECK(back->dropped == 0);
    REQUIRE(back->records.size() == 4);
    const auto& r0 = back->records[0];
    CHECK(r0.op == JournalRecord::Op::Put);
    CHECK_FALSE(r0.bep44);
    CHECK(r0.target == NodeId::from_key("k"));
    CHECK(r0.item.value == p.item.value);
    CHECK(r0.item.seq == 3);
    CHECK(r0.item.expires == p.item.expires);
    CHECK(r0.item.original);
    CHECK(r0.item.source == p.item.source);
    CHECK(back->records[1].op == JournalRecord::Op::Erase);
    CHECK(back->records[1].target == NodeId::from_key("gone"));
    CHECK(back->records[2].bep44);
    CHECK(back->records[3].op == JournalRecord::Op::Contact);
    CHECK(back->records[3].target == id_from(9));
    CHECK(back->records[3].endpoint == c.endpoint);
}

TEST_CASE("a journal cut anywhere keeps exactly the records written whole", "[journal]") {
    const std::vector<JournalRecord> records = {put("a", "1", 0), put("b", "22", 1), erase("a")};
    std::vector<std::size_t> ends = {kHeader.size()};
    for (const auto& r : records) ends.push_back(ends.back() + encode_record(r).size());
    const std::string whole = journal_of(records);
    for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
        auto back = decode_journal(std::string_view(whole).substr(0, cut));
        REQUIRE(back);
        std::size_t whole_records = 0;
        while (whole_records < records.size() && ends[whole_records + 1] <= cut) ++whole_records;
        CHECK(back->records.size() == whole_records);
        CHECK(back->intact + back->dropped == cut);
    }
}

TEST_CASE("a damaged record ends the journal there", "[journal]") {
    const std::vector<JournalRecord> records = {put("a", "1", 0), put("b", "2", 0),
                                                put("c", "3", 0)};
    std::string file = journal_of(records);
    const std::size_t second = kHeader.size() + encode_record(records[0]).size();
    file[second + 14] ^= 0x20;  // inside the second record's payload: its checksum fails
    auto back = decode_journal(file);
    REQUIRE(back);
    REQUIRE(back->records.size() == 1);
    CHECK(back->records[0].item.key == "a");
    CHECK(back->intact == second);
    CHECK_FALSE(decode_journal("KADSTATE and more"));  // not a journal at all
}

TEST_CASE("replaying a journal over its snapshot gives the latest state, however often",
          "[journal]") {
    SavedState s;
    s.items = {item("a", "old", 0), item("b", "b", 0)};
    const std::vector<JournalRecord> records = {put("a", "new", 1), erase("b"), put("c", "c", 0),
                                                erase("c"), put("c", "again", 2)};
    apply_journal(s, records);
    auto values = [](const SavedState& st) {
        std::map<std::string, std::string> m;
        for (const auto& it : st.items) m[it.key] = it.value;
        return m;
    };
    const std::map<std::string, std::string> want = {{"a", "new"}, {"c", "again"}};
    CHECK(values(s) == want);
    apply_journal(s, records);  // a crash between the snapshot and emptying the journal
    CHECK(values(s) == want);
    JournalRecord c;
    c.op = JournalRecord::Op::Contact;
    c.target = id_from(4);
    c.endpoint = ep("10.0.0.4:4000");
    apply_journal(s, {c, c});
    CHECK(s.contacts == std::vector<krpc::NodeInfo>{{id_from(4), ep("10.0.0.4:4000")}});
}

TEST_CASE("--fsync policies parse, and nonsense is refused with the reason", "[journal]") {
    CHECK(parse_sync("always")->policy == SyncPolicy::Always);
    CHECK(parse_sync("never")->policy == SyncPolicy::Never);
    CHECK(parse_sync("250ms")->interval == 250ms);
    CHECK(parse_sync("2s")->interval == 2000ms);
    CHECK(parse_sync("100")->interval == 100ms);
    CHECK(to_string(*parse_sync("1s")) == "1000ms");
    CHECK(parse_sync("sometimes").error() ==
          "'sometimes' is not always, never or an interval (250ms, 1s)");
    CHECK(parse_sync("0ms").error() == "the interval must be 1 ms to 1 hour");
    CHECK_FALSE(parse_sync("5min"));
}

TEST_CASE("the state directory replays its journal over the snapshot", "[journal]") {
    const std::string dir = temp_dir();
    {
        auto d = StateDir::open(dir);
        REQUIRE(d);
        SavedState s;
        s.id = id_from(7);
        s.items = {item("a", "old", 0)};
        d->save(s);
        auto j = Journal::open(d->journal_file(), {SyncPolicy::Always, {}});
        REQUIRE(j);
        j->append(put("a", "new", 1));
        j->append(put("b", "b", 0));
        CHECK(j->syncs() == 2);
    }
    // A crash in the middle of a third record.
    {
        std::ofstream out(dir + "/journal", std::ios::binary | std::ios::app);
        const std::string third = encode_record(put("c", "c", 0));
        out << third.substr(0, third.size() / 2);
    }
    {
        auto d = StateDir::open(dir);
        REQUIRE(d);
        std::string warning;
        auto loaded = d->load(warning);
        REQUIRE(loaded);
        CHECK(loaded->id == id_from(7));
        CHECK(d->replayed() == 2);
        REQUIRE(loaded->items.size() == 2);
        std::map<std::string, std::string> values;
        for (const auto& it : loaded->items) values[it.key] = it.value;
        CHECK(values == std::map<std::string, std::string>{{"a", "new"}, {"b", "b"}});
        CHECK_THAT(warning, Catch::Contains("dropped a torn record at its end"));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("a journal without its snapshot is set aside, not applied to nothing", "[journal]") {
    const std::string dir = temp_dir();
    auto d = StateDir::open(dir);
    REQUIRE(d);
    {
        auto j = Journal::open(d->journal_file(), {});
        REQUIRE(j);
        j->append(put("a", "1", 0));
    }
    std::string warning;
    CHECK_FALSE(d->load(warning));
    CHECK_THAT(warning, Catch::Contains("has no state file to apply to"));
    CHECK_FALSE(std::filesystem::exists(d->journal_file()));
    std::filesystem::remove_all(dir);
}

TEST_CASE("an emptied journal keeps its header and takes new records", "[journal]") {
    const std::string dir = temp_dir();
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/journal";
    auto j = Journal::open(path, {SyncPolicy::Never, {}});
    REQUIRE(j);
    j->append(put("a", "1", 0));
    j->clear();
    j->append(put("b", "2", 0));
    CHECK(j->dirty());
    auto back = decode_journal(slurp(path));
    REQUIRE(back);
    REQUIRE(back->records.size() == 1);
    CHECK(back->records[0].item.key == "b");
    CHECK(j->bytes() == slurp(path).size());
    CHECK_FALSE(Journal::open(dir + "/nowhere/journal", {}));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a store is in the journal by the time it is answered", "[journal][runtime]") {
    const std::string dir = temp_dir();
    std::filesystem::create_directories(dir);
    auto j = Journal::open(dir + "/journal", {SyncPolicy::Never, {}});
    REQUIRE(j);
    std::optional<DecodedJournal> at_answer;
    std::optional<JournaledPair> pair(std::in_place, *j);
    const PutResult put = pair->put("greeting", "hello", [&](const PutResult&) {
        // What a kill -9 now would leave on disk.
        auto d = decode_journal(slurp(dir + "/journal"));
        if (d) at_answer = *d;
    });
    CHECK(put.stored == 1);
    REQUIRE(at_answer);
    const AsioNode& writer = pair->writer;
    // The writer entered the holder's routing table, then its store arrived.
    REQUIRE(at_answer->records.size() == 2);
    CHECK(at_answer->records[0].op == JournalRecord::Op::Contact);
    CHECK(at_answer->records[0].target == writer.id());
    CHECK(at_answer->records[0].endpoint == writer.local_endpoint());
    const JournalRecord& stored = at_answer->records[1];
    CHECK(stored.op == JournalRecord::Op::Put);
    CHECK(stored.item.key == "greeting");
    CHECK(stored.item.value == "hello");
    CHECK(stored.item.source == writer.local_endpoint());
    CHECK(j->records() == 2);
    pair.reset();
    std::filesystem::remove_all(dir);
}

TEST_CASE("a node whose journal cannot be written refuses stores, and says why", "[journal]") {
    const std::string dir = temp_dir();
    std::filesystem::create_directories(dir);
    CHECK_FALSE(Journal::open("/dev/full", {}));  // not even its header can be written
    auto j = Journal::open(dir + "/journal", {SyncPolicy::Never, {}});
    REQUIRE(j);
    std::optional<JournaledPair> pair(std::in_place, *j);
    auto put_now = [&](const std::string& key) { return pair->put(key, "v"); };
    AsioNode& holder = pair->holder;
    // A full disk, as far as this process is concerned: no file may grow past its size now
    // (restored however this block is left, so that later tests are not affected).
    struct FileSizeLimit {
        rlimit old{};
        void (*handler)(int) = SIG_DFL;
        explicit FileSizeLimit(rlim_t bytes) {
            handler = ::signal(SIGXFSZ, SIG_IGN);
            ::getrlimit(RLIMIT_FSIZE, &old);
            rlimit small = old;
            small.rlim_cur = bytes;
            ::setrlimit(RLIMIT_FSIZE, &small);
        }
        ~FileSizeLimit() {
            ::setrlimit(RLIMIT_FSIZE, &old);
            ::signal(SIGXFSZ, handler);
        }
        FileSizeLimit(const FileSizeLimit&) = delete;
        FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    };
    std::optional<FileSizeLimit> full(std::in_place, j->bytes() + 10);  // 10 bytes of a record
    const PutResult refused = put_now("a");
    full.reset();
    // No half record was left behind: the journal is still whole.
    auto after = decode_journal(slurp(dir + "/journal"));
    REQUIRE(after);
    CHECK(after->dropped == 0);
    CHECK(refused.stored == 0);
    REQUIRE(refused.refusals.size() == 1);
    CHECK_THAT(refused.refusals[0].second, Catch::Contains("cannot keep it: cannot write"));
    CHECK(holder.journal_failed());
    CHECK(put_now("b").stored == 0);  // still refused: nothing was saved since
    j->clear();
    holder.journal_recovered();
    CHECK(put_now("c").stored == 1);
    pair.reset();
    std::filesystem::remove_all(dir);
}

TEST_CASE("a power cut, modelled: what was fdatasynced holds every record --fsync promises",
          "[journal]") {
    // A power cut keeps the journal up to its last fdatasync, and perhaps some of what came
    // after (the kernel may have written it back): the file cut at synced_bytes() or anywhere
    // past it.
    const std::string dir = temp_dir();
    std::filesystem::create_directories(dir);
    auto records_after_cut = [&](const std::string& path, std::size_t cut) {
        const std::string kept = slurp(path).substr(0, cut);
        if (kept.empty()) return std::size_t{0};  // not even the header: an empty journal
        auto back = decode_journal(kept);
        REQUIRE(back);
        return back->records.size();
    };
    SECTION("always: every record, as soon as append() returns") {
        auto j = Journal::open(dir + "/journal", {SyncPolicy::Always, {}});
        REQUIRE(j);
        for (std::size_t i = 0; i < 10; ++i) {
            j->append(put("k" + std::to_string(i), "v", 0));
            CHECK(j->synced_bytes() == j->bytes());
            CHECK(records_after_cut(j->path(), j->synced_bytes()) == i + 1);
        }
    }
    SECTION("an interval: the records up to the last sync(), which the timer calls") {
        auto j = Journal::open(dir + "/journal", {SyncPolicy::Interval, std::chrono::seconds(1)});
        REQUIRE(j);
        for (std::size_t i = 0; i < 5; ++i) j->append(put("k" + std::to_string(i), "v", 0));
        CHECK(records_after_cut(j->path(), j->synced_bytes()) == 0);  // at risk until the sync
        j->sync();
        j->append(put("k5", "v", 0));
        CHECK(records_after_cut(j->path(), j->synced_bytes()) == 5);
        // Whatever of the sixth the kernel wrote back before the cut: five, or all six.
        for (std::size_t cut = j->synced_bytes(); cut <= j->bytes(); ++cut) {
            const std::size_t n = records_after_cut(j->path(), cut);
            CHECK((n == 5 || (n == 6 && cut == j->bytes())));
        }
    }
    SECTION("never: nothing is sure; the kernel writes back when it will") {
        {
            auto j = Journal::open(dir + "/journal", {SyncPolicy::Never, {}});
            REQUIRE(j);
            for (std::size_t i = 0; i < 5; ++i) j->append(put("k" + std::to_string(i), "v", 0));
            CHECK(j->synced_bytes() == 0);
            CHECK(j->syncs() == 0);
        }
    }
    std::filesystem::remove_all(dir);
}
