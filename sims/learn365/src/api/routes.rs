//! The OData routes under `/odata/v2`, parsed from the raw (percent-encoded) request path.
//!
//! Entity keys sit in parentheses: a bare or quoted GUID (`Courses(<guid>)`), or a quoted string
//! with `''` for a quote (`Users('<LoginName>')`). Each path segment is percent-decoded on its own,
//! so the claims characters `#` and `|` may arrive encoded.

/// `/odata/v2` prefix of every API route.
pub const PREFIX: &str = "/odata/v2";

/// An action on one enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Complete,
    Retake,
    Approve,
    Reject,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Cancel" => Action::Cancel,
            "Complete" => Action::Complete,
            "Retake" => Action::Retake,
            "Approve" => Action::Approve,
            "Reject" => Action::Reject,
            _ => return None,
        })
    }
}

/// Every API route; keys are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListUsers,
    UpsertUser,
    GetUser(String),
    PurgeUser(String),
    ListCourses,
    CreateCourse,
    GetCourse(String),
    Enroll(String),
    ListTrainingPlans,
    GetTrainingPlan(String),
    ListCatalogs,
    GetCatalog(String),
    ListEnrollments,
    ListEnrollmentsWithDeletedUsers,
    CreateEnrollment,
    GetEnrollment(String),
    PatchEnrollment(String),
    EnrollmentAction(String, Action),
}

/// `Name` or `Name(key)` with the key decoded and unquoted.
fn segment(raw: &str) -> Option<(String, Option<String>)> {
    let decoded = percent_decode(raw)?;
    match decoded.split_once('(') {
        None => Some((decoded, None)),
        Some((name, rest)) => {
            let key = rest.strip_suffix(')')?.trim();
            let key = match key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')) {
                Some(quoted) => quoted.replace("''", "'"),
                None => key.to_string(),
            };
            Some((name.to_string(), Some(key)))
        }
    }
}

/// Decodes `%XX` escapes (a `+` stays a `+` in a path). `None` on a malformed escape or bad UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Route {
    pub fn parse(method: &str, path: &str) -> Option<Self> {
        let rest = path.strip_prefix(PREFIX)?;
        let raw: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let segments: Vec<(String, Option<String>)> = raw.iter().map(|s| segment(s)).collect::<Option<_>>()?;
        let seg: Vec<(&str, Option<&str>)> = segments.iter().map(|(n, k)| (n.as_str(), k.as_deref())).collect();
        let key = |k: &str| k.to_string();
        Some(match (method, seg.as_slice()) {
            ("GET", [("Users", None)]) => Route::ListUsers,
            ("POST", [("Users", None)]) => Route::UpsertUser,
            ("GET", [("Users", Some(k))]) => Route::GetUser(key(k)),
            ("POST", [("Users", Some(k)), ("Purge", None)]) => Route::PurgeUser(key(k)),
            ("GET", [("Courses", None)]) => Route::ListCourses,
            ("POST", [("Courses", None)]) => Route::CreateCourse,
            ("GET", [("Courses", Some(k))]) => Route::GetCourse(key(k)),
            ("POST", [("Courses", Some(k)), ("Enroll", None)]) => Route::Enroll(key(k)),
            ("GET", [("TrainingPlans", None)]) => Route::ListTrainingPlans,
            ("GET", [("TrainingPlans", Some(k))]) => Route::GetTrainingPlan(key(k)),
            ("GET", [("CourseCatalogs", None)]) => Route::ListCatalogs,
            ("GET", [("CourseCatalogs", Some(k))]) => Route::GetCatalog(key(k)),
            ("GET", [("Enrollments", None)]) => Route::ListEnrollments,
            ("GET", [("Enrollments", None), ("IncludeDeletedUsers", Some(""))]) => {
                Route::ListEnrollmentsWithDeletedUsers
            }
            ("POST", [("Enrollments", None)]) => Route::CreateEnrollment,
            ("GET", [("Enrollments", Some(k))]) => Route::GetEnrollment(key(k)),
            ("PATCH", [("Enrollments", Some(k))]) => Route::PatchEnrollment(key(k)),
            ("POST", [("Enrollments", Some(k)), (action, None)]) => {
                Route::EnrollmentAction(key(k), Action::parse(action)?)
            }
            _ => return None,
        })
    }

    /// The route template used as the statistics key.
    pub fn template(&self) -> &'static str {
        match self {
            Route::ListUsers => "GET /odata/v2/Users",
            Route::UpsertUser => "POST /odata/v2/Users",
            Route::GetUser(_) => "GET /odata/v2/Users('{login}')",
            Route::PurgeUser(_) => "POST /odata/v2/Users('{login}')/Purge",
            Route::ListCourses => "GET /odata/v2/Courses",
            Route::CreateCourse => "POST /odata/v2/Courses",
            Route::GetCourse(_) => "GET /odata/v2/Courses({id})",
            Route::Enroll(_) => "POST /odata/v2/Courses({id})/Enroll",
            Route::ListTrainingPlans => "GET /odata/v2/TrainingPlans",
            Route::GetTrainingPlan(_) => "GET /odata/v2/TrainingPlans({id})",
            Route::ListCatalogs => "GET /odata/v2/CourseCatalogs",
            Route::GetCatalog(_) => "GET /odata/v2/CourseCatalogs({id})",
            Route::ListEnrollments => "GET /odata/v2/Enrollments",
            Route::ListEnrollmentsWithDeletedUsers => "GET /odata/v2/Enrollments/IncludeDeletedUsers()",
            Route::CreateEnrollment => "POST /odata/v2/Enrollments",
            Route::GetEnrollment(_) => "GET /odata/v2/Enrollments({id})",
            Route::PatchEnrollment(_) => "PATCH /odata/v2/Enrollments({id})",
            Route::EnrollmentAction(_, a) => match a {
                Action::Cancel => "POST /odata/v2/Enrollments({id})/Cancel",
                Action::Complete => "POST /odata/v2/Enrollments({id})/Complete",
                Action::Retake => "POST /odata/v2/Enrollments({id})/Retake",
                Action::Approve => "POST /odata/v2/Enrollments({id})/Approve",
                Action::Reject => "POST /odata/v2/Enrollments({id})/Reject",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_and_unquoted() {
        assert_eq!(
            Route::parse("GET", "/odata/v2/Users('i%3A0%23.f%7Cmembership%7Co''neil%40x.test')"),
            Some(Route::GetUser("i:0#.f|membership|o'neil@x.test".into()))
        );
        assert_eq!(
            Route::parse("POST", "/odata/v2/Users('i:0%23.f|membership|a@x.test')/Purge"),
            Some(Route::PurgeUser("i:0#.f|membership|a@x.test".into()))
        );
        assert_eq!(Route::parse("POST", "/odata/v2/Courses(abc)/Enroll"), Some(Route::Enroll("abc".into())));
        assert_eq!(Route::parse("GET", "/odata/v2/Courses('abc')"), Some(Route::GetCourse("abc".into())));
        assert_eq!(
            Route::parse("POST", "/odata/v2/Enrollments(e1)/Cancel"),
            Some(Route::EnrollmentAction("e1".into(), Action::Cancel))
        );
        assert_eq!(
            Route::parse("GET", "/odata/v2/Enrollments/IncludeDeletedUsers()"),
            Some(Route::ListEnrollmentsWithDeletedUsers)
        );
        assert_eq!(Route::parse("POST", "/odata/v2/Enrollments(e1)/Explode"), None);
        assert_eq!(Route::parse("DELETE", "/odata/v2/Users"), None);
        assert_eq!(Route::parse("GET", "/odata/v2/Users('%ZZ')"), None);
        assert_eq!(Route::parse("GET", "/api/Users"), None);
    }
}
