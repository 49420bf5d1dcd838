//! Unit tests of the loader: file-name detection, aggregation, header spellings, errors naming file,
//! line and column, the two-halves Progress read, and Parquet files loading like CSV.

use super::*;
use std::path::PathBuf;

struct Dir(PathBuf);
impl Dir {
    fn new() -> Dir {
        let p = std::env::temp_dir().join(format!("scimgw-load-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).expect("mkdir");
        Dir(p)
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).expect("write");
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const NOW: &str = "2026-11-23T00:00:00Z";

#[test]
fn file_names_with_and_without_tenant_suffix() {
    let of = |n: &str| Dataset::of_file(Path::new(n));
    assert_eq!(of("Users.csv"), Some(Dataset::Users));
    assert_eq!(of("users_3f1e0000-aaaa.csv"), Some(Dataset::Users));
    assert_eq!(of("HierarchyLearningPathModule.csv"), Some(Dataset::HierarchyLearningPathModule));
    assert_eq!(of("hierarchylearningpath-xyz.csv"), Some(Dataset::HierarchyLearningPath));
    assert_eq!(of("dbo.Progress.csv"), Some(Dataset::Progress));
    assert_eq!(of("UsersExtra.csv"), None);
}

#[test]
fn loads_and_aggregates() {
    let d = Dir::new();
    d.write("users_t1.csv", "tenantId,userId,AADObjectId,CreatedOn\nt1,L1,{7F3C1E2A-5B6D-4C8E-9F00-1234567890A1},2023-01-02T03:04:05Z\nt1,L2,abc,\n");
    d.write(
        "Progress.csv",
        "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\n\
         t1,L1,points.unit.basic.completed,Unit,learn.m1.1-intro,100,2024-03-01T00:00:00Z\n\
         t1,L1,points.unit.basic.completed,Unit,learn.m1.2-next,100,2024-03-01T00:00:00Z\n\
         t1,L1,points.module.basic.completed,Module,learn.m1,200,2024-03-01T00:00:00Z\n\
         t1,L9,points.module.basic.completed,Module,learn.m1,200,2024-03-01T00:00:00Z\n",
    );
    d.write("HierarchyUnit.csv", "unitUid,title,url,durationInMinutes,points,moduleUid\nlearn.m1.1-intro,I,/u,1,100,m1\nlearn.m1.2-next,N,/u,1,100,m1\n");
    d.write("HierarchyModule.csv", "moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages\nm1,Module one,/training/modules/m1/,,30,200,\"[\"\"beginner\"\"]\",\"[\"\"azure\"\"]\",[],[]\n");
    d.write("Achievements.csv", "tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn\nt1,L1,badge.module.basic.completed,Badge,m1.badge,Module,m1,2024-03-01T00:00:00Z\nt1,L1,badge.module.basic.completed,Badge,m0.badge,Module,m0,2017-09-30T00:00:00Z\n");
    d.write("Certifications.csv", "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,CertificationEndDate,StayCurrentEligibilityStartDate\nt1,L1,Certification,Azure AI,certification.ai,20240115,20240115,20250115,0\n");
    let s = load_dir(&d.0, NOW).expect("load");
    assert_eq!(s.learners.len(), 2);
    let l1 = &s.learners[0];
    assert_eq!(l1.aad_object_id, "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1");
    assert_eq!(l1.created_on.as_deref(), Some("2023-01-02"));
    assert_eq!(l1.total_xp, 400);
    assert_eq!(l1.modules_started, vec![Started { module: "m1".into(), units: 2 }]);
    assert_eq!(l1.modules_completed, vec![Award { uid: "m1".into(), on: "2024-03-01".into() }]);
    let c = &l1.certifications[0];
    assert_eq!(
        (c.awarded_on.as_deref(), c.end.as_deref(), c.stay_current_from.as_deref()),
        (Some("2024-01-15"), Some("2025-01-15"), None)
    );
    assert_eq!(s.stats.orphan_rows, 1);
    let m = &s.catalog.modules["m1"];
    assert_eq!(m.url.as_deref(), Some("https://learn.microsoft.com/training/modules/m1/"));
    assert_eq!((m.levels.clone(), m.products.clone()), (vec!["beginner".to_owned()], vec!["azure".to_owned()]));
}

fn err(files: &[(&str, &str)]) -> LoadError {
    let d = Dir::new();
    d.write("Users.csv", "tenantId,userId,AADObjectId,CreatedOn\nt1,L1,o1,2023-01-01\n");
    for (n, t) in files {
        d.write(n, t);
    }
    load_dir(&d.0, NOW).expect_err("must fail")
}

#[test]
fn errors_name_file_line_and_column() {
    let e = err(&[("Progress.csv", "")]);
    assert_eq!((e.file.as_str(), e.line), ("Progress.csv", Some(1)), "{e}");
    let e = err(&[("Progress.csv", "tenantId,userId,SourceType,SourceUid,XP\nt1,L1,Unit,u1,100\nt1,L1,Unit\n")]);
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("truncated"), "{e}");
    let e = err(&[("Progress.csv", "tenantId,userId,SourceType,SourceUid,XP\nt1,L1,Unit,u1,lots\n")]);
    assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("XP")), "{e}");
    let e = err(&[("Certifications.csv", "tenantId,userId,SourceUid,AwardedOn\nt1,L1,c1,20241341\n")]);
    assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("AwardedOn")), "{e}");
    assert!(e.to_string().starts_with("Certifications.csv, line 2, column AwardedOn: `20241341`"), "{e}");
    let e = err(&[("Achievements.csv", "tenantId,userId,awardType\nt1,L1,Badge\n")]);
    assert_eq!(e.column.as_deref(), Some("SourceUid"), "{e}");
    let d = Dir::new();
    d.write("Progress.csv", "tenantId,userId\n");
    assert!(load_dir(&d.0, NOW).expect_err("no users").message.contains("no Users dataset"));
}

#[test]
fn a_large_progress_file_is_read_in_two_halves_with_the_same_result() {
    let d = Dir::new();
    d.write("Users.csv", "tenantId,userId,AADObjectId\nt,L1,o1\nt,L2,o2\n");
    d.write("HierarchyUnit.csv", "unitUid,moduleUid\nu1,m1\nu2,m2\n");
    let mut text = String::from("tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\n");
    for i in 0..400 {
        let (user, unit) = if i % 3 == 0 { ("L1", "u1") } else { ("L2", "u2") };
        text.push_str(&format!("t,{user},points.unit.basic.completed,Unit,{unit},{},2024-01-01T00:00:00Z\n", i % 7));
    }
    d.write("Progress.csv", &text);
    let s = load_dir(&d.0, NOW).expect("load");
    let want = |user: &str| (0..400).filter(|i| (i % 3 == 0) == (user == "L1")).map(|i| (i % 7) as i64).sum::<i64>();
    assert_eq!(s.learners[0].total_xp, want("L1"));
    assert_eq!(s.learners[1].total_xp, want("L2"));
    assert_eq!(s.learners[0].modules_started, vec![Started { module: "m1".into(), units: 134 }]);
    assert_eq!(s.stats.rows["Progress"], 400);
    // An error in the second half names its line in the whole file.
    let mut bad = text.clone();
    bad.push_str("t,L1,points.unit.basic.completed,Unit,u1,many,2024-01-01T00:00:00Z\n");
    d.write("Progress.csv", &bad);
    let e = load_dir(&d.0, NOW).expect_err("bad XP");
    assert_eq!((e.line, e.column.as_deref()), (Some(402), Some("XP")), "{e}");
}

type ColumnWrite = Box<dyn Fn(&mut parquet::file::writer::SerializedColumnWriter<'_>)>;

/// A REQUIRED text column holding `values`.
fn texts(values: [&'static str; 3]) -> ColumnWrite {
    Box::new(move |c| {
        let v: Vec<parquet::data_type::ByteArray> = values.iter().map(|s| (*s).into()).collect();
        c.typed::<parquet::data_type::ByteArrayType>().write_batch(&v, None, None).expect("write");
    })
}

/// A Parquet file as Data Share writes one (typed columns: timestamps, integers, nulls).
fn write_parquet(path: &Path, message: &str, columns: Vec<ColumnWrite>) {
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = std::sync::Arc::new(parquet::schema::parser::parse_message_type(message).expect("schema"));
    let props = std::sync::Arc::new(WriterProperties::builder().build());
    let file = std::fs::File::create(path).expect("create");
    let mut w = SerializedFileWriter::new(file, schema, props).expect("writer");
    let mut rg = w.next_row_group().expect("row group");
    for write in &columns {
        let mut c = rg.next_column().expect("column").expect("one more column");
        write(&mut c);
        c.close().expect("close column");
    }
    rg.close().expect("close row group");
    w.close().expect("close file");
}

#[test]
fn parquet_files_load_like_csv() {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    let d = Dir::new();
    let bytes = |v: &[&str]| v.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
    write_parquet(
        &d.0.join("Users.parquet"),
        "message schema { REQUIRED BINARY userId (UTF8); OPTIONAL BINARY AADObjectId (UTF8); OPTIONAL INT64 CreatedOn (TIMESTAMP(MICROS,true)); }",
        vec![
            Box::new(move |c| {
                c.typed::<ByteArrayType>().write_batch(&bytes(&["L1", "L2"]), None, None).expect("write");
            }),
            Box::new(move |c| {
                let v = [ByteArray::from("{7F3C1E2A-5B6D-4C8E-9F00-1234567890A1}")];
                c.typed::<ByteArrayType>().write_batch(&v, Some(&[1, 0]), None).expect("write");
            }),
            Box::new(|c| {
                // 2024-03-01T10:15:00Z in microseconds.
                c.typed::<Int64Type>().write_batch(&[1_709_288_100_000_000], Some(&[1, 0]), None).expect("write");
            }),
        ],
    );
    write_parquet(
        &d.0.join("Progress_t1.parquet"),
        "message schema { REQUIRED BINARY userId (UTF8); REQUIRED BINARY SourceType (UTF8); REQUIRED BINARY SourceUid (UTF8); REQUIRED INT64 XP; OPTIONAL INT64 AwardedOn (TIMESTAMP(MILLIS,true)); }",
        vec![
            texts(["L1", "L1", "L2"]),
            texts(["Unit", "Module", "Unit"]),
            texts(["u1", "m1", "u1"]),
            Box::new(|c| {
                c.typed::<Int64Type>().write_batch(&[100, 200, 100], None, None).expect("write");
            }),
            Box::new(|c| {
                c.typed::<Int64Type>()
                    .write_batch(&[1_709_288_100_000, 1_709_288_200_000], Some(&[1, 1, 0]), None)
                    .expect("write");
            }),
        ],
    );
    d.write("HierarchyUnit.csv", "unitUid,moduleUid\nu1,m1\n");
    let s = load_dir(&d.0, NOW).expect("load");
    assert_eq!(s.learners.len(), 2);
    assert_eq!(s.learners[0].aad_object_id, "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1");
    assert_eq!(s.learners[0].created_on.as_deref(), Some("2024-03-01"));
    assert_eq!((s.learners[0].total_xp, s.learners[1].total_xp), (300, 100));
    assert_eq!(s.learners[0].modules_started, vec![Started { module: "m1".into(), units: 1 }]);
    assert_eq!(s.stats.files["Progress"], "Progress_t1.parquet");
    // Progress with XP as text (read through the same rules): a bad value names the row and column.
    let progress = |xp: [&'static str; 3]| {
        write_parquet(
            &d.0.join("Progress_t1.parquet"),
            "message schema { REQUIRED BINARY userId (UTF8); REQUIRED BINARY SourceType (UTF8); REQUIRED BINARY SourceUid (UTF8); OPTIONAL BINARY XP (UTF8); }",
            vec![
                texts(["L1", "L9", "L2"]),
                texts(["Unit", "Unit", "unit"]),
                texts(["u1", "u1", " u1 "]),
                Box::new(move |c| {
                    let v: Vec<ByteArray> = xp.iter().map(|s| ByteArray::from(*s)).collect();
                    c.typed::<ByteArrayType>().write_batch(&v, Some(&[1, 1, 1]), None).expect("write");
                }),
            ],
        )
    };
    progress(["100.0", "7", " 40 "]);
    let s = load_dir(&d.0, NOW).expect("load");
    assert_eq!((s.learners[0].total_xp, s.learners[1].total_xp), (100, 40));
    assert_eq!(s.stats.orphan_rows, 1, "L9 is not a Learn user");
    assert_eq!(s.learners[1].modules_started, vec![Started { module: "m1".into(), units: 1 }]);
    progress(["100", "7", "4x"]);
    let e = load_dir(&d.0, NOW).expect_err("bad XP");
    assert_eq!((e.file.as_str(), e.line, e.column.as_deref()), ("Progress_t1.parquet", Some(3), Some("XP")), "{e}");
    assert!(e.to_string().contains("`4x` is not an integer"), "{e}");
    // A file that is not Parquet is refused with its name.
    d.write("Users.parquet", "not parquet");
    let e = load_dir(&d.0, NOW).expect_err("bad file");
    assert_eq!(e.file, "Users.parquet", "{e}");
}

#[test]
fn header_spelling_variants() {
    for header in ["tenantID", "tenantId", "TENANTID"] {
        let d = Dir::new();
        d.write("Users.csv", "tenantId,USERID,aadobjectid\nt1,L1,o1\n");
        d.write("Certifications.csv", &format!("{header},userId,SourceUid,AwardedOn\nt1,L1,c1,20240115\n"));
        let s = load_dir(&d.0, NOW).expect("load");
        assert_eq!(s.learners[0].certifications.len(), 1);
    }
}
