// Opening the search's SQLite files: one place that closes the connection on every way a file can fail.
#include "search/sqlite_statement.h"

namespace nos::search {

sqlite3* open_database(const std::string& path, int flags, int busy_ms, const std::string& setup,
                       const DatabaseNames& names, const std::function<void(sqlite3*)>& check) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw UserError(path + ": cannot open the " + names.opening + ": " + why);
  }
  sqlite3_busy_timeout(db, busy_ms);
  try {
    if (!setup.empty()) {
      char* error = nullptr;
      if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string why = error ? error : "unknown error";
        sqlite3_free(error);
        throw UserError(path + ": not a usable " + names.unusable + " (" + why + ")" + names.advice);
      }
    }
    check(db);
  } catch (const UserError&) {
    sqlite3_close(db);
    throw;
  } catch (const InternalError& e) {
    sqlite3_close(db);
    throw UserError(path + ": " + names.malformed + " (" + e.what() + ")" + names.advice);
  }
  return db;
}

}  // namespace nos::search
