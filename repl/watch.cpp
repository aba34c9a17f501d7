// watch and unwatch: each new version of a key as it appears (kad/watches.hpp). At a terminal,
// watch runs until Ctrl-C, each version a line of its own; in a script it returns at once, and
// each version is an event ({"event":"watch",...}) beside the later commands, until unwatch.

#include "command_util.hpp"

namespace kadnode {

namespace {

// How the version reached us: stored here, told by a holder (notify), or found by a round.
std::string_view via(const kad::WatchEvent& e) {
    return e.here ? "here" : e.pushed ? "notify" : "lookup";
}

json event_json(const kad::WatchEvent& e) {
    json j = {{"key", e.item.key}, {"value", e.item.value}, {"seq", e.item.seq}};
    j["from"] = e.here ? json("here") : node_json(e.from);
    j["via"] = via(e);
    return j;
}

std::string event_text(const kad::WatchEvent& e) {
    const std::string who = e.from.id.short_hex() + " (" + e.from.endpoint.to_string() + ")";
    return quote(e.item.key) + " = " + quote(e.item.value) + " (seq " + std::to_string(e.item.seq) +
           ")" +
           (e.here     ? ", stored here"
            : e.pushed ? ", told by its holder " + who
                       : ", found at " + who);
}

std::string too_many(const kad::AsioNode& node) {
    return "too many watches (" + std::to_string(node.node().config().max_watches) +
           "; unwatch one first)";
}

}  // namespace

void handlers::watch(const Call& c) {
    if (c.a.size() != 1 || c.a.option(0)) return c.usage();
    const std::string key = c.a[0];
    // At a terminal (its width is known) that can stop it (Ctrl-C): until then.
    if (c.width > 0 && c.cancel) {
        auto id = c.node.watch(key, [cmd = c.cmd, out = c.output](const kad::WatchEvent& e) {
            if (out) out(part(cmd, event_text(e), event_json(e)));
        });
        if (!id) return c.done(fail(c.cmd, too_many(c.node), "busy"));
        if (c.output) {
            c.output(part(c.cmd, "watching " + quote(key) + " (Ctrl-C to stop)", {}));
        }
        c.cancel->on_emit([&node = c.node, id = *id, cmd = c.cmd, done = c.done, key] {
            node.unwatch(id);
            done(ok(cmd, "stopped watching " + quote(key), {{"key", key}}));
        });
        return;
    }
    const EventSink& events = c.shell.events();
    if (!events) return c.refuse("watch runs at a terminal here (Ctrl-C stops it)");
    auto id = c.node.watch(key, [events](const kad::WatchEvent& e) {
        events("watch", event_json(e), "watch: " + event_text(e));
    });
    if (!id) return c.done(fail(c.cmd, too_many(c.node), "busy"));
    c.shell.background_watches()[key].push_back(*id);
    c.done(ok(c.cmd, "watching " + quote(key) + " (unwatch " + quote(key) + " stops)",
              {{"key", key}}));
}

void handlers::unwatch(const Call& c) {
    if (c.a.size() != 1 || c.a.option(0)) return c.usage();
    const std::string key = c.a[0];
    auto& watches = c.shell.background_watches();
    auto it = watches.find(key);
    if (it == watches.end()) {
        return c.done(fail(c.cmd, quote(key) + " is not watched", "not_found"));
    }
    for (const kad::WatchId id : it->second) c.node.unwatch(id);
    watches.erase(it);
    c.done(ok(c.cmd, "stopped watching " + quote(key), {{"key", key}}));
}

}  // namespace kadnode
