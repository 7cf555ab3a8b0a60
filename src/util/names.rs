//! File names that are safe on every file system (Windows included) for users' photos.

/// A file name for a user's photo that is safe on every file system (Windows included):
/// letters, digits and `@._-+` kept, anything else becomes `_`. At most
/// [`MAX_NAME_BYTES`] bytes (file systems count bytes, and CJK letters take three): a
/// longer name is cut on a character boundary and ends in `~` and a hash of the whole
/// user, so two long names that share a beginning stay apart.
pub fn safe_file_name(user: &str) -> String {
    let mut name: String = user
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.len() > MAX_NAME_BYTES {
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(user.as_bytes()));
        let suffix = format!("~{}", &hash[..12]);
        let cut = name.floor_char_boundary(MAX_NAME_BYTES - suffix.len());
        name.truncate(cut);
        name.push_str(&suffix);
    }
    let trimmed = name.trim_matches(|c| c == '.' || c == ' ').to_string();
    name = if trimmed.is_empty() {
        "_".into()
    } else {
        trimmed
    };
    const RESERVED: &[&str] = &[
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
        "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];
    if RESERVED.contains(&name.to_lowercase().as_str()) {
        name.push('_');
    }
    name
}

/// Longest name [`safe_file_name`] makes, leaving room for an extension and a `-N`
/// suffix under the usual 255-byte limit.
pub const MAX_NAME_BYTES: usize = 200;

/// One output file name per user (`<name>.jpg`), distinct even where users only differ
/// in characters a file name cannot hold (`a/b`, `a?b`, `a_b`) or in letter case (Windows
/// and macOS folders ignore case), so one person's photo never lands in another's file.
/// A user whose name is already a safe file name keeps it (the first of a case-blind
/// clash does); every other name gets a short hash of the whole user.
pub fn unique_photo_names(users: &[&str]) -> Vec<String> {
    use sha2::Digest;
    let mut taken = std::collections::HashSet::new();
    users
        .iter()
        .map(|user| {
            let user = user.trim();
            let name = safe_file_name(user);
            if name == user && taken.insert(name.to_lowercase()) {
                format!("{name}.jpg")
            } else {
                let hash = hex::encode(sha2::Sha256::digest(user.as_bytes()));
                // Within the same byte budget as any other name (long CJK names).
                let cut = name.floor_char_boundary(MAX_NAME_BYTES - 9);
                format!("{}-{}.jpg", &name[..cut], &hash[..8])
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn safe_names() {
        assert_eq!(
            safe_file_name("jane.doe@contoso.com"),
            "jane.doe@contoso.com"
        );
        assert_eq!(safe_file_name("a/b\\c:d*e?\"f<g>h|"), "a_b_c_d_e__f_g_h_");
        assert_eq!(safe_file_name("CON"), "CON_");
        assert_eq!(safe_file_name(" ..."), "_");
    }

    #[test]
    fn photo_names_never_collide() {
        let names = super::unique_photo_names(&["a/b", "a?b", "a_b", "Jane", "jane"]);
        assert_eq!(names[2], "a_b.jpg");
        assert_eq!(names[3], "Jane.jpg");
        let lower: std::collections::HashSet<String> =
            names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), 5, "{names:?}");
        assert!(
            names[0].starts_with("a_b-") && names[4].starts_with("jane-"),
            "{names:?}"
        );
    }

    #[test]
    fn long_names_are_cut_by_bytes_and_stay_apart() {
        let long: String = "山田太郎".repeat(40);
        let a = safe_file_name(&format!("{long}甲@contoso.com"));
        let b = safe_file_name(&format!("{long}乙@contoso.com"));
        assert!(a.len() <= super::MAX_NAME_BYTES && b.len() <= super::MAX_NAME_BYTES);
        assert_ne!(a, b);
        assert!(a.starts_with("山田太郎山田"), "{a}");
        assert_eq!(a, safe_file_name(&format!("{long}甲@contoso.com")));
        // Names that fit are as before.
        let fits = "é".repeat(100);
        assert_eq!(safe_file_name(&fits), fits);
        let ascii = safe_file_name(&"a".repeat(250));
        assert_eq!(ascii.len(), super::MAX_NAME_BYTES);
        assert!(
            ascii.starts_with(&"a".repeat(187)) && ascii.contains('~'),
            "{ascii}"
        );
    }
}
