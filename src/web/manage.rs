//! `errata user …`: people added, listed, changed and removed from the command line,
//! through the same store the pages use. Passwords come from standard input (not echoed
//! on a terminal), never from the command line, where other users of the machine see them.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};

use super::password::{self, MAX_PASSWORD_LEN, Password};
use crate::store::Store;
use crate::store::users::{Email, Role, User};

pub enum UserCommand {
    Create { email: String, role: Role },
    List,
    SetRole { user: String, role: Role },
    SetPassword { user: String },
    Delete { user: String },
}

pub async fn run(store: Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create { email, role } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let password = read_password()?;
            let hash = password::hash(&password).await?;
            let user = store.create_user(&email, role, &hash).await?;
            println!("{}", user.id);
        }
        UserCommand::List => {
            for u in store.users().await? {
                println!("{}\t{}\t{}", u.id, u.email, u.role);
            }
        }
        UserCommand::SetRole { user, role } => {
            let user = find(&store, &user).await?;
            let user = store.set_user_role(user.id, role).await?;
            println!("{}\t{}\t{}", user.id, user.email, user.role);
        }
        UserCommand::SetPassword { user } => {
            let user = find(&store, &user).await?;
            let password = read_password()?;
            let hash = password::hash(&password).await?;
            // No session is kept: whoever signed in with the old password is signed out.
            store.set_password(user.id, &hash, None).await?;
            println!(
                "set the password of user {} ({}); their sessions have ended",
                user.id, user.email
            );
        }
        UserCommand::Delete { user } => {
            let user = find(&store, &user).await?;
            store.delete_user(user.id).await?;
            println!("deleted user {} ({})", user.id, user.email);
        }
    }
    Ok(())
}

/// A person by id or e-mail address.
async fn find(store: &Store, which: &str) -> anyhow::Result<User> {
    if let Ok(id) = which.parse::<i64>() {
        return store.user(id).await.with_context(|| format!("no user with id {id}"));
    }
    match store.user_by_email(which).await? {
        Some((user, _)) => Ok(user),
        None => bail!("no user with the e-mail address {which:?}"),
    }
}

/// The password: typed twice without echo on a terminal, else the first line of standard
/// input (read up to a bound).
fn read_password() -> anyhow::Result<Password> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        return Ok(Password::parse(&first)?);
    }
    let mut raw = Vec::new();
    std::io::stdin()
        .take((MAX_PASSWORD_LEN + 2) as u64)
        .read_to_end(&mut raw)
        .context("reading the password from standard input")?;
    let text = String::from_utf8(raw).context("the password is not UTF-8")?;
    let line = text.lines().next().unwrap_or_default();
    Ok(Password::parse(line)?)
}
