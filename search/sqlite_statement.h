// A prepared SQLite statement for the search's two databases (the run store and the shared equivalence cache).
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "common/error.h"

namespace nos::search {

// A prepared statement, finalized on scope exit; bind() takes 1-based positions as SQLite does.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw InternalError(std::string("SQLite cannot prepare '") + sql + "': " + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind_blob(int i, const std::string& bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // NaN and infinities are stored as NULL (SQLite would turn NaN into NULL anyway).
  Statement& bind(int i, double v) {
    if (std::isfinite(v)) {
      sqlite3_bind_double(stmt_, i, v);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
    return *this;
  }
  // true while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    // The file the statement ran on names the database (the run's store or the shared equivalence cache).
    const char* file = sqlite3_db_filename(db_, "main");
    throw UserError(std::string(file != nullptr && *file != '\0' ? file : "an SQLite database") + ": " +
                    sqlite3_errmsg(db_));
  }
  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::string blob(int col) const {
    const void* b = sqlite3_column_blob(stmt_, col);
    return b ? std::string(static_cast<const char*>(b), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(stmt_, col);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// How open_database names a file in its messages (all prefixed with the path, all ending with `advice`).
struct DatabaseNames {
  std::string opening;    // "search database": "PATH: cannot open the search database: WHY"
  std::string unusable;   // "search database": "PATH: not a usable search database (WHY)" when `setup` fails
  std::string malformed;  // "not a nos search database": "PATH: not a nos search database (WHY)" when `check`
                          // meets an SQLite error
  std::string advice;     // appended to the last two ("; delete it ...")
};

// Opens `path` with `flags`, waits up to `busy_ms` for other connections' writes, runs `setup` (none when empty),
// then `check`, which throws UserError when the file is not what it should be. Every failure closes the connection
// and is a UserError named as `names` says.
sqlite3* open_database(const std::string& path, int flags, int busy_ms, const std::string& setup,
                       const DatabaseNames& names, const std::function<void(sqlite3*)>& check);

}  // namespace nos::search
