// The state file: encoding, damage detection, the lock, atomic saves.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "kad/state.hpp"

using namespace kad;
using namespace kad::test;
using namespace std::chrono_literals;

namespace {

SavedState sample() {
    SavedState s;
    s.id = id_from(1);
    s.port = 4242;
    s.contacts.push_back({id_from(2), ep("10.0.0.2:4000")});
    s.contacts.push_back({id_from(3), ep("[fd00::3]:4001")});
    SavedItem it;
    it.key = "key";
    it.value = std::string("binary\0value", 12);
    it.seq = 7;
    it.expires = WallClock::time_point(std::chrono::milliseconds(1'800'000'000'123));
    it.ttl = 24h;
    it.original = true;
    it.published_at = WallClock::time_point(std::chrono::milliseconds(1'799'990'000'000));
    s.items.push_back(it);
    SavedItem stored = it;  // stored to us by another node: its writer is kept
    stored.key = "key2";
    stored.original = false;
    stored.source = ep("192.0.2.9:6881");
    s.items.push_back(stored);
    return s;
}

std::string temp_dir() {
    auto p = std::filesystem::temp_directory_path() /
             ("kad-state-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::remove_all(p);
    return p.string();
}

}  // namespace

TEST_CASE("a saved state decodes to what was saved", "[state]") {
    const SavedState s = sample();
    auto back = decode_state(encode_state(s));
    REQUIRE(back);
    CHECK(back->id == s.id);
    CHECK(back->port == 4242);
    CHECK(back->contacts == s.contacts);
    REQUIRE(back->items.size() == 2);
    CHECK(back->items[0].key == "key");
    CHECK(back->items[0].value == s.items[0].value);
    CHECK(back->items[0].seq == 7);
    CHECK(back->items[0].expires == s.items[0].expires);
    CHECK(back->items[0].ttl == 24h);
    CHECK(back->items[0].original);
    CHECK(back->items[0].published_at == s.items[0].published_at);
    CHECK_FALSE(back->items[0].source);
    CHECK(back->items[1].source == s.items[1].source);
}

TEST_CASE("a damaged, truncated or foreign state file is refused with the reason", "[state]") {
    const std::string good = encode_state(sample());
    CHECK(decode_state(good.substr(0, good.size() - 1)).error() ==
          "checksum mismatch (damaged or truncated)");
    CHECK(decode_state(good.substr(0, 20)).error() == "too short");
    std::string flipped = good;
    flipped[flipped.size() / 2] ^= 1;
    CHECK(decode_state(flipped).error() == "checksum mismatch (damaged or truncated)");
    std::string foreign = good;
    foreign[0] = 'X';
    CHECK(decode_state(foreign).error() == "not a kadnode state file");
    // Every prefix fails cleanly.
    for (std::size_t n = 0; n < good.size(); ++n) CHECK_FALSE(decode_state(good.substr(0, n)));
}

TEST_CASE("a state directory is locked, saved atomically, and a damaged file set aside",
          "[state]") {
    const std::string dir = temp_dir();
    {
        auto d = StateDir::open(dir);
        REQUIRE(d);
        auto second = StateDir::open(dir);
        REQUIRE_FALSE(second);
        CHECK(second.error().find("is in use by another kadnode (pid ") != std::string::npos);

        std::string warning;
        CHECK_FALSE(d->load(warning));  // nothing saved yet
        CHECK(warning.empty());
        d->save(sample());
        CHECK_FALSE(std::filesystem::exists(d->file() + ".tmp"));
        auto loaded = d->load(warning);
        REQUIRE(loaded);
        CHECK(loaded->id == id_from(1));

        // Truncate it: the next load sets it aside and starts fresh.
        std::filesystem::resize_file(d->file(), 50);
        CHECK_FALSE(d->load(warning));
        CHECK(warning.find("is damaged (checksum mismatch") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(d->file()));
        bool aside = false;
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            if (e.path().filename().string().rfind("state.damaged-", 0) == 0) aside = true;
        }
        CHECK(aside);
    }
    // Released with the object.
    CHECK(StateDir::open(dir));
    std::filesystem::remove_all(dir);
}

TEST_CASE("BEP 44 items are saved with their signatures, and a file from before them loads",
          "[state]") {
    SavedState s = sample();
    SavedItem m;
    m.key = std::string(32, 'k') + "salt";
    m.value = "5:hello";
    m.seq = 3;
    m.signature = std::string(64, 's');
    m.expires = WallClock::time_point(std::chrono::milliseconds(1'800'000'000'000));
    m.ttl = 2h;
    m.original = true;
    s.bep44_items.push_back(m);
    SavedItem imm = m;
    imm.key.clear();
    imm.signature.clear();
    imm.seq = 0;
    imm.original = false;
    s.bep44_items.push_back(imm);
    auto back = decode_state(encode_state(s));
    REQUIRE(back);
    REQUIRE(back->bep44_items.size() == 2);
    CHECK(back->bep44_items[0].key == m.key);
    CHECK(back->bep44_items[0].signature == m.signature);
    CHECK(back->bep44_items[0].seq == 3);
    CHECK(back->bep44_items[0].original);
    CHECK(back->bep44_items[1].key.empty());
    CHECK(back->bep44_items[1].signature.empty());
    CHECK(back->items.size() == 2);  // kadnode's items apart from them

    // A file written before "bep44" existed: no BEP 44 items. One where it is not a list: damaged.
    auto file_of = [](const std::string& extra) {
        const std::string payload = "d" + extra + "8:contactsle2:id20:" + std::string(20, 'i') +
                                    "5:itemsle4:porti1e7:versioni1ee";
        const auto digest = sha256(payload);
        return "KADSTATE" + std::string(reinterpret_cast<const char*>(digest.data()), 32) + payload;
    };
    auto old = decode_state(file_of(""));
    REQUIRE(old);
    CHECK(old->bep44_items.empty());
    CHECK(decode_state(file_of("5:bep44i1e")).error() == "malformed: bep44 is not a list");
}

TEST_CASE("a wall clock set or a host woken is noticed as a step; drift and ticks are not",
          "[state][clock]") {
    ClockStepWatch watch;
    TimePoint now{};
    WallClock::time_point wall = WallClock::time_point{} + std::chrono::hours(24 * 365 * 56);
    CHECK(watch.check(now, wall) == 0ns);  // the reference
    // Both clocks move together, a second at a time, with NTP slewing the wall clock by 500 ppm
    // (the most it does): an hour of it is no step.
    for (int i = 0; i < 3600; ++i) {
        now += 1s;
        wall += 1s + 500us;
        REQUIRE(watch.check(now, wall) == 0ns);
    }
    // The wall clock set a day ahead.
    now += 1s;
    wall += 1s + std::chrono::hours(24);
    CHECK(watch.check(now, wall) == std::chrono::hours(24));
    // Then nothing more: the step became the reference.
    now += 1s;
    wall += 1s;
    CHECK(watch.check(now, wall) == 0ns);
    // Set 90 s back.
    now += 1s;
    wall += 1s - 90s;
    CHECK(watch.check(now, wall) == -90s);
    // The host slept 20 minutes: the steady clock stopped, the wall clock did not.
    wall += 20min;
    CHECK(watch.check(now, wall) == 20min);
}

TEST_CASE("an item saved after a clock step reads back with the life it had left",
          "[state][clock]") {
    // What the snapshot written on a step gives: the same instant on both clocks, after the step.
    StoredItem item;
    item.key = "k";
    item.value = "v";
    const TimePoint now = TimePoint{} + 1h;
    item.expires = now + 10min;
    item.ttl = 10min;
    const WallClock::time_point before = WallClock::time_point{} + std::chrono::hours(500000);
    const WallClock::time_point after = before + std::chrono::hours(24);
    // Saved under the old offset and read under the new one: off by the step (expired).
    const SavedItem stale = to_saved(item, now, before);
    CHECK(from_saved(stale, now, after).expires == now + 10min - std::chrono::hours(24));
    // Saved again under the new one: the 10 minutes it had left.
    const SavedItem fresh = to_saved(item, now, after);
    CHECK(from_saved(fresh, now, after).expires == now + 10min);
}
