//! Who runs this process: the passwd name of its real uid. Never an environment variable:
//! `USER` and `LOGNAME` are whatever the caller set, and an approval recorded under a
//! name typed into the environment would prove nothing.

use nix::unistd::{Uid, User, getuid};

/// The OS user running this process: the name the system's user database (NSS: files,
/// LDAP, SSSD) gives the real uid, else `uid:N`. A name that cannot be a person's (an
/// account called `drctl`, the engine's own name) is `uid:N` too, so that nothing this
/// user does reads back as the engine's.
pub(crate) fn os_user() -> String {
    name_of(getuid())
}

fn name_of(uid: Uid) -> String {
    match User::from_uid(uid) {
        Ok(Some(user)) if drctl_core::actor::check_name(&user.name).is_ok() => user.name,
        _ => format!("uid:{uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_comes_from_the_uid_not_the_environment() {
        // `USER` is not read: whatever it says, the name is the real uid's.
        let expected = name_of(getuid());
        assert_eq!(os_user(), expected);
        assert!(!expected.is_empty());
        assert_eq!(name_of(Uid::from_raw(0)), "root");
    }
}
