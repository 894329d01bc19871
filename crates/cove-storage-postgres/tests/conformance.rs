//! Runs the storage conformance suite against the PostgreSQL backend, each check on a fresh
//! schema of the database `COVE_TEST_POSTGRES_URL` names. Without it every check is skipped
//! (and says so on stderr) rather than failing.

mod common;

use common::fresh;

cove_storage::conformance_tests!(fresh());
