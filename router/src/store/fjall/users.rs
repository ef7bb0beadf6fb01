//! Users: the `users` table and its `usernames` uniqueness index.

use tracing::debug;

use super::keys::{check_string_key, decode_u64, is_valid_string_key, user_key};
use super::tables::NEXT_USER_ID;
use super::values::{decode, encode};
use super::{backend_error, commit_durably, now_ms, Inner};
use crate::store::{StoreError, StoreResult, User, UserId};

impl Inner {
    /// Allocates the next user id and writes the user with its username index row.
    ///
    /// The write lock makes the uniqueness check and the insert one step for concurrent calls.
    pub(super) fn create_user(&self, username: &str, password_hash: &str) -> StoreResult<User> {
        check_string_key("username", username)?;
        let mut counters = self.lock_writer();

        if self.user_id_by_name(username)?.is_some() {
            return Err(StoreError::UsernameTaken(username.to_owned()));
        }

        let user = User {
            user_id: counters.next_user_id,
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at_ms: now_ms(),
        };
        let next_user_id = user.user_id + 1;

        let mut batch = self.db.batch();
        batch.insert(&self.tables.usernames, username, user.user_id.to_be_bytes());
        batch.insert(
            &self.tables.users,
            user_key(user.user_id),
            encode("users", &user)?,
        );
        batch.insert(&self.tables.meta, NEXT_USER_ID, next_user_id.to_be_bytes());
        commit_durably(batch, "create_user")?;

        counters.next_user_id = next_user_id;
        debug!(user_id = user.user_id, "created user");
        Ok(user)
    }

    /// Reads a user by id.
    pub(super) fn user(&self, user_id: UserId) -> StoreResult<Option<User>> {
        let key = user_key(user_id);
        let value = self
            .tables
            .users
            .get(key)
            .map_err(|error| backend_error("reading users", error))?;
        value.map(|value| decode("users", &key, &value)).transpose()
    }

    /// Reads a user by username through the `usernames` index.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the index names a user row that does not exist.
    pub(super) fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let Some(user_id) = self.user_id_by_name(username)? else {
            return Ok(None);
        };
        match self.user(user_id)? {
            Some(user) => Ok(Some(user)),
            None => Err(StoreError::Backend(format!(
                "usernames maps {username:?} to user {user_id}, which has no users row. The \
                 data directory is inconsistent."
            ))),
        }
    }

    /// Returns whether user `user_id` exists.
    pub(super) fn user_exists(&self, user_id: UserId) -> StoreResult<bool> {
        self.tables
            .users
            .contains_key(user_key(user_id))
            .map_err(|error| backend_error("reading users", error))
    }

    fn user_id_by_name(&self, username: &str) -> StoreResult<Option<UserId>> {
        if !is_valid_string_key(username) {
            return Ok(None);
        }
        let value = self
            .tables
            .usernames
            .get(username)
            .map_err(|error| backend_error("reading usernames", error))?;
        value
            .map(|value| decode_u64("usernames", username.as_bytes(), &value))
            .transpose()
    }
}
