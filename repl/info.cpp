// The commands about this node: id, rt, stats, peers (the LAN's) and fingerprint.

#include <algorithm>
#include <optional>

#include "command_util.hpp"
#include "metrics.hpp"

namespace kadnode {

void handlers::id(const Call& c) {
    if (c.a.size() != 0) return c.usage();
    const auto& n = c.node.node();
    const auto uptime = kad::Clock::now() - c.shell.started();
    json data = {{"id", c.node.id().to_hex()},
                 {"addr", c.node.local_endpoint().to_string()},
                 {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
                 {"contacts", n.routing_table().size()},
                 {"items", n.storage().size()},
                 {"joined", n.joined()},
                 {"network", c.shell.network()}};
    const auto probe = c.node.probe_endpoint();
    data["probe_addr"] = probe ? json(probe->to_string()) : json(nullptr);
    std::string text =
        "id        " + c.node.id().to_hex() + "\naddress   " + c.node.local_endpoint().to_string() +
        (probe ? " (probes from port " + std::to_string(probe->port()) + ")" : std::string()) +
        "\nuptime    " + span_text(uptime) + "\ncontacts  " +
        std::to_string(n.routing_table().size()) + "\nitems     " +
        std::to_string(n.storage().size()) + "\nnetwork   " + c.shell.network();
    // BEP 42: the address responders agree on, and whether our ID matches it.
    const auto& voter = n.address_voter();
    data["external_votes"] = voter.agreed_votes();
    if (n.external_address()) {
        const auto cls = kad::bep42::classify(n.id(), *n.external_address());
        data["external_addr"] = n.external_address()->to_string();
        data["id_bep42"] = kad::bep42::to_string(cls);
        text += "\nseen as   " + n.external_address()->to_string() + " (" +
                plural(voter.agreed_votes(), "responder agrees", "responders agree") +
                "; the id is " + kad::bep42::to_string(cls) + ", BEP 42)";
    } else {
        text += "\nseen as   not agreed yet (" +
                plural(voter.total_votes(), "responder has", "responders have") + " said)";
    }
    return c.done(ok(c.cmd, text, data));
}

void handlers::rt(const Call& c) {
    if (c.a.size() != 0) return c.usage();
    const auto& n = c.node.node();
    const auto& t = n.routing_table();
    const auto now = kad::Clock::now();
    json buckets = json::array();
    std::string text = plural(t.size(), "contact", "contacts") + " in " +
                       plural(t.bucket_count(), "bucket", "buckets");
    for (std::size_t i = 0; i < t.bucket_count(); ++i) {
        const auto& b = t.bucket(i);
        const bool last = i + 1 == t.bucket_count();
        json contacts = json::array();
        // Bucket i holds IDs sharing exactly i leading bits with ours; the last one,
        // i or more (it splits as it fills).
        text += "\nbucket " + std::to_string(i) + " (" +
                (last ? std::to_string(i) + " or more shared bits"
                      : plural(i, "shared bit", "shared bits")) +
                "): " + plural(b.contacts().size(), "contact", "contacts") + ", " +
                std::to_string(b.replacements().size()) + " cached";
        for (const auto& contact : b.contacts()) {
            json cj = {
                {"id", contact.id.to_hex()},
                {"addr", contact.endpoint.to_string()},
                {"last_seen_s",
                 std::chrono::duration_cast<std::chrono::seconds>(now - contact.last_seen).count()},
                {"failures", contact.failures}};
            const auto cls = kad::bep42::classify(contact.id, contact.endpoint);
            cj["bep42"] = kad::bep42::to_string(cls);
            text += "\n  " + contact.id.to_hex() + "  " + contact.endpoint.to_string() + "  seen " +
                    span_text(now - contact.last_seen) + " ago";
            if (cls == kad::bep42::IdClass::NonConforming) text += ", id not BEP 42";
            // Which implementation answers there ("v"); shown in text when not ours.
            const std::string_view v = n.client_versions().of(contact.id);
            cj["client"] = kad::describe_client(v);
            if (v != n.config().version) text += ", client " + kad::describe_client(v);
            if (contact.srtt()) {
                cj["rtt_ms"] = ms(*contact.srtt());
                text += ", rtt " + ms_text(*contact.srtt());
            }
            if (contact.failures) text += ", " + plural(contact.failures, "failure", "failures");
            contacts.push_back(cj);
        }
        buckets.push_back(
            {{"index", i}, {"contacts", contacts}, {"cached", b.replacements().size()}});
    }
    return c.done(ok(c.cmd, text, {{"contacts", t.size()}, {"buckets", buckets}}));
}

void handlers::stats(const Call& c) {
    // stats [--all] [SECTION]
    const Args& a = c.a;
    bool all = false;
    std::optional<std::string> only;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a.option(i) && a[i] == "--all") {
            all = true;
        } else if (!a.option(i) && !only) {
            only = a[i];
        } else {
            return c.usage();
        }
    }
    const auto& sections = stats_sections();
    if (only && std::find(sections.begin(), sections.end(), *only) == sections.end()) {
        std::string list;
        for (const auto sec : sections) list += (list.empty() ? "" : ", ") + std::string(sec);
        return c.refuse("no section '" + *only + "' (sections: " + list + ")");
    }
    // The same numbers --metrics serves (metrics.cpp). JSON has every one of the sections
    // shown, zeros too (a program wants the same fields each time); text hides zeros.
    const auto metrics = collect_metrics(c.node);
    const Metric* bounds = nullptr;
    for (const auto& m : metrics) {
        if (m.name == "held_bound") bounds = &m;
    }
    json data = json::object();
    std::string text;
    std::size_t hidden = 0;
    auto line = [&](std::string label, const std::string& value) {
        label.resize(std::max<std::size_t>(label.size() + 1, 26), ' ');
        text += "\n  " + label + value;
    };
    for (const auto section : sections) {
        if (only && section != *only) continue;
        const std::size_t heading = text.size();
        text += std::string(text.empty() ? "" : "\n") + std::string(section);
        const std::size_t empty = text.size();
        for (const auto& m : metrics) {
            if (m.section != section) continue;
            if (m.label.empty()) {
                const std::uint64_t v = m.values.front().second;
                data[m.name] = v;
                if (v == 0 && !all) {
                    ++hidden;
                } else {
                    line(m.name, std::to_string(v));
                }
                continue;
            }
            json by = json::object();
            for (const auto& [label, v] : m.values) by[label] = v;
            data[m.name] = by;
            if (m.name == "held_bound") continue;  // shown with held
            if (m.name == "held" && bounds) {
                for (std::size_t i = 0; i < m.values.size(); ++i) {
                    if (m.values[i].second == 0 && !all) {
                        ++hidden;
                        continue;
                    }
                    line("held " + m.values[i].first, std::to_string(m.values[i].second) + " of " +
                                                          std::to_string(bounds->values[i].second));
                }
                continue;
            }
            // "ping: 3, find_node: 12": the labels with a count, or all of them with --all.
            std::string counts;
            for (const auto& [label, v] : m.values) {
                if (v == 0 && !all) continue;
                counts += (counts.empty() ? "" : ", ") + label + ": " + std::to_string(v);
            }
            if (counts.empty()) {
                ++hidden;
            } else {
                line(m.name, counts);
            }
        }
        if (text.size() == empty) text.resize(heading);  // nothing to show in it
    }
    if (!text.empty() && text.front() == '\n') text.erase(0, 1);
    if (text.empty()) text = (only ? *only + ": " : std::string()) + "nothing counted yet";
    if (hidden > 0) {
        text += "\n(" + plural(hidden, "zero", "zeros") + " not shown: stats --all" +
                (only ? " " + *only : std::string()) + ")";
    }
    return c.done(ok(c.cmd, text, data));
}

namespace {

// peers and fingerprint: LAN discovery's view.
void lan_view(const Call& c) {
    if (c.a.size() != 0) return c.usage();
    const kad::Discovery* d = c.node.discovery();
    if (!d) return c.refuse("LAN discovery is off");
    if (c.cmd == "fingerprint") {
        const std::string f = d->fingerprint();
        return c.done(ok(c.cmd, f + "  (" + plural(d->size() + 1, "node", "nodes") + ")",
                         {{"fingerprint", f}, {"nodes", d->size() + 1}}));
    }
    const auto now = kad::Clock::now();
    json list = json::array();
    std::string text = plural(d->size(), "peer", "peers") + " on the LAN";
    for (const auto& p : d->peers()) {
        json pj = {{"id", p.id.to_hex()},
                   {"addr", p.endpoint.to_string()},
                   {"last_seen_s",
                    std::chrono::duration_cast<std::chrono::seconds>(now - p.last_seen).count()}};
        text += "\n  " + p.id.to_hex() + "  " + p.endpoint.to_string() + "  seen " +
                span_text(now - p.last_seen) + " ago";
        if (p.rtt) {
            pj["rtt_ms"] = ms(*p.rtt);
            text += ", rtt " + ms_text(*p.rtt);
        }
        list.push_back(pj);
    }
    return c.done(ok(c.cmd, text, {{"peers", list}, {"fingerprint", d->fingerprint()}}));
}

}  // namespace

void handlers::peers(const Call& c) {
    if (c.a.size() > 0) return find_peers(c);  // peers <info-hash>: a swarm's (bep5.cpp)
    lan_view(c);
}

void handlers::fingerprint(const Call& c) {
    lan_view(c);
}

}  // namespace kadnode
