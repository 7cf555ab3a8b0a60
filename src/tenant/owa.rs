//! Writes the Exchange Online PowerShell script for the Outlook-on-the-web route
//! (`Set-OwaMailboxPolicy -SetPhotoEnabled $false`): commented, idempotent, readable first.

/// Name of the policy made for a subset of users.
pub const SUBSET_POLICY: &str = "M365Photos-NoPhotoChange";

/// Quotes a value for a PowerShell single-quoted string. PowerShell ends such a string
/// at `'` and at the typographic quotes U+2018-U+201B alike (Excel turns `o'brien` into
/// `o’brien`), so each of the four is doubled, as PowerShell's own
/// `CodeGeneration.EscapeSingleQuotedStringContent` does.
fn ps_quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('\'');
    for c in s.chars() {
        quoted.push(c);
        if matches!(c, '\'' | '\u{2018}'..='\u{201B}') {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// The script. `users`: `None` = the default policy (everyone); `Some` = a new policy
/// assigned to those mailboxes only.
pub fn script(users: Option<&[String]>, generated_at: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# m365-photos: stop users changing their photo in Outlook on the web (and Teams).\n\
         # Generated {generated_at}. Read it before running; it changes nothing else.\n\
         #\n\
         # What it does: sets -SetPhotoEnabled $false on an Outlook on the web mailbox policy.\n\
         # Safe to run more than once: every step checks the current state first.\n\
         # Requirements: the ExchangeOnlineManagement module and an Exchange administrator\n\
         # (or Organization Management) sign-in. Changes can take hours to reach every client.\n\
         # This complements, and does not replace, `m365-photos lock` (the Microsoft Graph\n\
         # photoUpdateSettings), which also covers the Entra and Microsoft 365 portals.\n\
         # To undo: Set-OwaMailboxPolicy -Identity <policy> -SetPhotoEnabled $true\n\
         \n\
         #Requires -Modules ExchangeOnlineManagement\n\
         $ErrorActionPreference = 'Stop'\n\
         \n\
         # Sign in only when there is no Exchange Online session yet.\n\
         if (-not (Get-ConnectionInformation | Where-Object {{ $_.State -eq 'Connected' }})) {{\n\
         \x20   Connect-ExchangeOnline -ShowBanner:$false\n\
         }}\n\n"
    ));
    match users {
        None => {
            s.push_str(
                "# Everyone: the default policy (OwaMailboxPolicy-Default) applies to every mailbox\n\
                 # that has no other policy assigned.\n\
                 $policy = Get-OwaMailboxPolicy | Where-Object { $_.IsDefault } | Select-Object -First 1\n\
                 if (-not $policy) { $policy = Get-OwaMailboxPolicy -Identity 'OwaMailboxPolicy-Default' }\n\
                 if ($policy.SetPhotoEnabled) {\n\
                 \x20   Set-OwaMailboxPolicy -Identity $policy.Identity -SetPhotoEnabled $false\n\
                 \x20   Write-Host \"Photo changes disabled in policy $($policy.Identity)\"\n\
                 } else {\n\
                 \x20   Write-Host \"Policy $($policy.Identity) already disables photo changes; nothing to do\"\n\
                 }\n",
            );
        }
        Some(list) => {
            s.push_str(&format!(
                "# A subset: a separate policy, {policy}, assigned to the {n} mailbox(es) below.\n\
                 # Other mailboxes keep their current policy.\n\
                 $policyName = {q}\n\
                 if (-not (Get-OwaMailboxPolicy -Identity $policyName -ErrorAction SilentlyContinue)) {{\n\
                 \x20   New-OwaMailboxPolicy -Name $policyName | Out-Null\n\
                 \x20   Write-Host \"Created policy $policyName\"\n\
                 }}\n\
                 if ((Get-OwaMailboxPolicy -Identity $policyName).SetPhotoEnabled) {{\n\
                 \x20   Set-OwaMailboxPolicy -Identity $policyName -SetPhotoEnabled $false\n\
                 }}\n\
                 \n\
                 # The users (from the users CSV).\n\
                 $users = @(\n",
                policy = SUBSET_POLICY,
                n = list.len(),
                q = ps_quote(SUBSET_POLICY),
            ));
            for (i, u) in list.iter().enumerate() {
                let sep = if i + 1 == list.len() { "" } else { "," };
                s.push_str(&format!("    {}{sep}\n", ps_quote(u)));
            }
            s.push_str(
                ")\n\
                 foreach ($u in $users) {\n\
                 \x20   $cas = Get-CASMailbox -Identity $u -ErrorAction SilentlyContinue\n\
                 \x20   if (-not $cas) { Write-Warning \"No mailbox for $u; skipped\"; continue }\n\
                 \x20   if ($cas.OwaMailboxPolicy -ne $policyName) {\n\
                 \x20       Set-CASMailbox -Identity $u -OwaMailboxPolicy $policyName\n\
                 \x20       Write-Host \"Assigned $policyName to $u\"\n\
                 \x20   }\n\
                 }\n",
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_script() {
        let s = script(None, "2026-01-01T00:00:00Z");
        assert!(s.contains("-SetPhotoEnabled $false"));
        assert!(s.contains("OwaMailboxPolicy-Default"));
        assert!(s.contains("if ($policy.SetPhotoEnabled)"));
        assert!(!s.contains("Set-CASMailbox"));
        assert!(s.lines().filter(|l| l.starts_with('#')).count() > 5);
    }

    #[test]
    fn subset_script_quotes_users() {
        let users = vec![
            "a@contoso.com".to_string(),
            "o'brien@contoso.com".to_string(),
        ];
        let s = script(Some(&users), "t");
        assert!(s.contains("New-OwaMailboxPolicy -Name $policyName"));
        assert!(s.contains("'o''brien@contoso.com'"));
        assert!(s.contains("    'a@contoso.com',\n"));
        assert!(s.contains("Set-CASMailbox -Identity $u -OwaMailboxPolicy $policyName"));
    }

    #[test]
    fn every_powershell_single_quote_is_doubled() {
        assert_eq!(ps_quote("o’brien"), "'o’’brien'");
        assert_eq!(ps_quote("‘‚‛'"), "'‘‘‚‚‛‛'''");
        assert_eq!(ps_quote("a\"$(x)`b"), "'a\"$(x)`b'");
    }
}
