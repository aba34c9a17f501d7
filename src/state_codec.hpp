#pragma once
// How a saved item is written, shared by the state file and its journal (src/state.cpp,
// src/journal.cpp).

#include "kad/bencode.hpp"
#include "kad/expected.hpp"
#include "kad/state.hpp"

namespace kad::detail {

bencode::Value item_value(const SavedItem& item);
// The error says what is wrong: "malformed: an item lacks a field".
Expected<SavedItem> parse_item(const bencode::Value& v);

}  // namespace kad::detail
