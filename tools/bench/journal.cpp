// kadjournal: what the state directory's journal (kad/journal.hpp) adds to each store a node
// accepts, under each --fsync policy, beside the store alone, in one run.
//
//   kadjournal                              values of 100 and 1,000 bytes, in $TMPDIR or /tmp
//   kadjournal --dir /var/lib/kadnode       on the filesystem the node's --state-dir is on
//   kadjournal --rounds 9 --seconds 0.5     steadier figures
//   kadjournal --json                       one JSON object, not the table
//
// Each store writes a 20-byte key (10,000 keys in turn, each with a higher seq every time round,
// from 8 sources) into a kad::Storage with the node's default limits. The cases:
// - store: Storage::store alone, as a node without --state-dir: the baseline.
// - never: the same, and the change hook turning the item into a record and appending it
//   (write(2)), as AsioNode::set_journal does; --fsync never adds nothing more.
// - interval-N: as never, and one fdatasync after every N stores: the --fsync timer's, at
//   N = stores per second x interval (1,000 stores/s and the default 1 s: N = 1,000).
// - always: each append followed by its fdatasync (--fsync always).
//
// The cases take turns, round after round, each for --seconds a round (its journal emptied
// after, untimed, as a snapshot empties it), so that they share the machine's slow and fast
// moments; the figure is the median over the rounds, and each is set beside the store alone of
// the same round. "sync p50" and "sync max" say how long the node is held up at a time: one
// fdatasync (interval), one store with its fdatasync (always). Times on another filesystem or
// disk differ, and with the other writes to it; on tmpfs fdatasync does nothing.

#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kad/endpoint.hpp"
#include "kad/journal.hpp"
#include "kad/node_id.hpp"
#include "kad/random.hpp"
#include "kad/state.hpp"
#include "kad/storage.hpp"
#include "kad/time.hpp"

namespace po = boost::program_options;

namespace {

using Steady = std::chrono::steady_clock;

constexpr std::size_t kKeys = 10'000;
constexpr std::size_t kKeySize = 20;
constexpr std::size_t kSources = 8;
constexpr std::size_t kBatch = 64;  // stores between two looks at the clock

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "kadjournal: %s\n", what.c_str());
    std::exit(EXIT_FAILURE);
}

std::string random_text(kad::RandomSource& rng, std::size_t size) {
    std::string s(size, '\0');
    for (char& c : s) c = static_cast<char>('a' + rng.uniform(26));
    return s;
}

// The filesystem holding `dir`, by the magic number statfs(2) gives: tmpfs changes the meaning
// of every fdatasync figure.
std::string filesystem_of(const std::string& dir) {
    struct statfs st {};
    if (::statfs(dir.c_str(), &st) != 0) return "unknown";
    switch (static_cast<unsigned long>(st.f_type)) {
        case 0xEF53:
            return "ext4";
        case 0x01021994:
            return "tmpfs";
        case 0x58465342:
            return "xfs";
        case 0x9123683E:
            return "btrfs";
        case 0x794C7630:
            return "overlayfs";
        default: {
            std::ostringstream o;
            o << "statfs type 0x" << std::hex << static_cast<unsigned long>(st.f_type);
            return o.str();
        }
    }
}

enum class Policy : std::uint8_t { None, Never, Interval, Always };

struct Case {
    std::string name;
    Policy policy = Policy::None;
    std::size_t sync_every = 0;  // Interval: stores between two fdatasyncs
};

// One case at one value size: its store, its journal, and the time each round took.
class Runner {
public:
    Runner(const Case& c, std::size_t value_size, const std::string& dir, std::uint64_t seed)
        : case_(c) {
        kad::SeededRandom rng(seed);
        for (std::size_t i = 0; i < kKeys; ++i) {
            keys_.push_back(random_text(rng, kKeySize));
            values_.push_back(random_text(rng, value_size));
        }
        for (std::size_t i = 0; i < kSources; ++i) {
            sources_.push_back(kad::Endpoint::v4({203, 0, 113, static_cast<std::uint8_t>(i + 1)},
                                                 static_cast<std::uint16_t>(6881 + i)));
        }
        if (c.policy == Policy::None) return;
        const std::string path = dir + "/journal-" + c.name + "-" + std::to_string(value_size);
        std::filesystem::remove(path);
        kad::JournalSync sync;
        sync.policy = c.policy == Policy::Always     ? kad::SyncPolicy::Always
                      : c.policy == Policy::Interval ? kad::SyncPolicy::Interval
                                                     : kad::SyncPolicy::Never;
        auto j = kad::Journal::open(path, sync);
        if (!j) die(j.error());
        journal_.emplace(std::move(*j));
        // As AsioNode::set_journal: each change becomes a record, its times read from the clocks.
        storage_.set_change_hook([this](const kad::NodeId& target, const kad::StoredItem* item) {
            kad::JournalRecord r;
            r.target = target;
            if (item) {
                r.item = kad::to_saved(*item, kad::Clock::now(), kad::WallClock::now());
            } else {
                r.op = kad::JournalRecord::Op::Erase;
            }
            journal_->append(r);
        });
    }
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    ~Runner() {
        if (journal_) std::filesystem::remove(journal_->path());
    }

    // Stores for `seconds`, in batches; returns the microseconds per store.
    double round(double seconds) {
        const std::size_t batch = case_.policy == Policy::Interval ? case_.sync_every : kBatch;
        const auto budget = std::chrono::duration<double>(seconds);
        std::uint64_t done = 0;
        const auto start = Steady::now();
        Steady::duration elapsed{};
        do {
            for (std::size_t i = 0; i < batch; ++i) {
                if (case_.policy == Policy::Always) {
                    const auto t = Steady::now();
                    store_one();
                    sync_us_.push_back(micros(Steady::now() - t));
                } else {
                    store_one();
                }
            }
            done += batch;
            if (case_.policy == Policy::Interval) {
                const auto t = Steady::now();
                journal_->sync();
                sync_us_.push_back(micros(Steady::now() - t));
            }
            elapsed = Steady::now() - start;
        } while (elapsed < budget);
        // Nothing left behind for the kernel to write back during the next case's round: on ext4
        // (data=ordered), an fdatasync waits for other files' dirty data in the same commit.
        if (journal_) journal_->clear();
        return micros(elapsed) / static_cast<double>(done);
    }

    const Case& which() const noexcept { return case_; }
    std::uint64_t stores() const noexcept { return next_; }
    std::uint64_t records() const noexcept { return journal_ ? journal_->records() : 0; }
    std::uint64_t syncs() const noexcept { return journal_ ? journal_->syncs() : 0; }
    // Each fdatasync (interval), each store with its fdatasync (always): how long the node's one
    // thread is held up at a time.
    const std::vector<double>& sync_us() const noexcept { return sync_us_; }

    static double micros(Steady::duration d) {
        return std::chrono::duration<double, std::micro>(d).count();
    }

private:
    void store_one() {
        const std::size_t k = next_ % kKeys;
        kad::Storage::Write w;
        w.key = keys_[k];
        w.value = values_[k];
        w.seq = static_cast<std::int64_t>(next_ / kKeys) + 1;
        w.source = sources_[k % kSources];
        const kad::StoreResult r = storage_.store(now_, w);
        if (!kad::accepted(r)) die(case_.name + ": the store refused: " + kad::to_string(r));
        ++next_;
    }

    Case case_;
    kad::Storage storage_;
    kad::TimePoint now_ = kad::TimePoint{} + std::chrono::hours(24);
    std::vector<std::string> keys_;
    std::vector<std::string> values_;
    std::vector<kad::Endpoint> sources_;
    std::optional<kad::Journal> journal_;
    std::uint64_t next_ = 0;
    std::vector<double> sync_us_;
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double largest(const std::vector<double>& v) {
    return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

struct Row {
    std::string name;
    std::size_t value_size = 0;
    double us = 0;           // per store, median of the rounds
    double ratio = 0;        // median of us / the store alone's, round by round
    double sync_p50_us = 0;  // Runner::sync_us(), over every round
    double sync_max_us = 0;
    std::uint64_t stores = 0;
};

std::string with_commas(double v) {
    std::string digits = std::to_string(static_cast<long long>(v + 0.5));
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) {
        digits.insert(static_cast<std::size_t>(i), ",");
    }
    return digits;
}

void print_table(const std::vector<Row>& rows) {
    std::printf("%-14s %6s %10s %11s %9s %11s %11s\n", "case", "value", "us/store", "stores/s",
                "x store", "sync p50 us", "sync max us");
    for (const Row& r : rows) {
        char p50[32] = "";
        char max[32] = "";
        if (r.sync_max_us > 0) {
            std::snprintf(p50, sizeof p50, "%.0f", r.sync_p50_us);
            std::snprintf(max, sizeof max, "%.0f", r.sync_max_us);
        }
        std::printf("%-14s %6zu %10.3f %11s %8.2fx %11s %11s\n", r.name.c_str(), r.value_size, r.us,
                    with_commas(1e6 / r.us).c_str(), r.ratio, p50, max);
    }
}

void print_json(const std::vector<Row>& rows, const std::string& dir, const std::string& fs,
                int rounds, double seconds) {
    std::printf("{\"dir\":\"%s\",\"filesystem\":\"%s\",\"rounds\":%d,\"seconds\":%g,\"rows\":[",
                dir.c_str(), fs.c_str(), rounds, seconds);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        std::printf(
            "%s{\"case\":\"%s\",\"value_size\":%zu,\"us_per_store\":%.4f,\"stores_per_s\":%.0f,"
            "\"ratio\":%.4f,\"sync_p50_us\":%.1f,\"sync_max_us\":%.1f,\"stores\":%llu}",
            i ? "," : "", r.name.c_str(), r.value_size, r.us, 1e6 / r.us, r.ratio, r.sync_p50_us,
            r.sync_max_us, static_cast<unsigned long long>(r.stores));
    }
    std::printf("]}\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    std::vector<std::size_t> value_sizes;
    std::vector<std::size_t> sync_every;
    int rounds = 5;
    double seconds = 0.3;
    po::options_description desc("kadjournal options");
    desc.add_options()("help,h", "this help")(
        "dir", po::value(&dir), "where the journals go (default: $TMPDIR, else /tmp)")(
        "value-size", po::value(&value_sizes)->multitoken(),
        "value sizes in bytes (default: 100 1000)")(
        "sync-every", po::value(&sync_every)->multitoken(),
        "interval cases: stores between two fdatasyncs (default: 100 1000)")(
        "rounds", po::value(&rounds)->default_value(rounds), "rounds (the median is kept)")(
        "seconds", po::value(&seconds)->default_value(seconds), "seconds per case per round")(
        "json", "print one JSON object instead of the table");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        die(e.what());
    }
    if (vm.count("help")) {
        std::cout << desc;
        return EXIT_SUCCESS;
    }
    if (dir.empty()) {
        const char* tmp = std::getenv("TMPDIR");
        dir = tmp && *tmp ? tmp : "/tmp";
    }
    if (value_sizes.empty()) value_sizes = {100, 1000};
    if (sync_every.empty()) sync_every = {100, 1000};
    if (rounds < 1 || seconds <= 0) die("--rounds and --seconds must be positive");
    for (std::size_t n : sync_every) {
        if (n == 0) die("--sync-every must be positive");
    }

    std::vector<Case> cases{{"store", Policy::None, 0}, {"never", Policy::Never, 0}};
    for (std::size_t n : sync_every) {
        cases.push_back({"interval-" + std::to_string(n), Policy::Interval, n});
    }
    cases.push_back({"always", Policy::Always, 0});

    std::string work;
    try {
        work = std::filesystem::path(dir) / ("kadjournal-" + std::to_string(::getpid()));
        std::filesystem::create_directories(work);
    } catch (const std::filesystem::filesystem_error& e) {
        die(e.what());
    }
    const std::string fs = filesystem_of(work);

    std::vector<Row> rows;
    try {
        for (std::size_t size : value_sizes) {
            std::vector<std::unique_ptr<Runner>> runners;
            for (std::size_t i = 0; i < cases.size(); ++i) {
                runners.push_back(std::make_unique<Runner>(cases[i], size, work, 1 + i));
            }
            // us[case][round]; the first case is the baseline.
            std::vector<std::vector<double>> us(cases.size());
            for (int round = 0; round < rounds; ++round) {
                for (std::size_t i = 0; i < runners.size(); ++i) {
                    us[i].push_back(runners[i]->round(seconds));
                }
            }
            for (std::size_t i = 0; i < runners.size(); ++i) {
                const Runner& r = *runners[i];
                if (r.which().policy != Policy::None && r.records() != r.stores()) {
                    die(r.which().name + ": " + std::to_string(r.records()) + " records for " +
                        std::to_string(r.stores()) + " stores");
                }
                if (r.which().policy == Policy::Always && r.syncs() != r.stores()) {
                    die("always: " + std::to_string(r.syncs()) + " syncs for " +
                        std::to_string(r.stores()) + " stores");
                }
                std::vector<double> ratios;
                for (int k = 0; k < rounds; ++k) {
                    ratios.push_back(us[i][static_cast<std::size_t>(k)] /
                                     us[0][static_cast<std::size_t>(k)]);
                }
                Row row;
                row.name = r.which().name;
                row.value_size = size;
                row.us = median(us[i]);
                row.ratio = median(ratios);
                row.sync_p50_us = median(r.sync_us());
                row.sync_max_us = largest(r.sync_us());
                row.stores = r.stores();
                rows.push_back(row);
            }
        }
    } catch (const std::system_error& e) {
        die(e.what());
    }
    std::filesystem::remove_all(work);

    if (vm.count("json")) {
        print_json(rows, work, fs, rounds, seconds);
    } else {
        std::printf("journals in %s (%s); %d rounds of %g s per case, medians\n", work.c_str(),
                    fs.c_str(), rounds, seconds);
        print_table(rows);
    }
    return EXIT_SUCCESS;
}
