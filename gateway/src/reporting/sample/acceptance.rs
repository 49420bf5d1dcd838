//! The exact data of acceptance tests AT-35..AT-39: the fixture files [`at_fixtures`] writes and the ids
//! and figures the tests check against (`tests/report.rs` imports them from `reporting::sample`).

use std::io;
use std::path::Path;

/// Learn `userId` of the AT-35/37/38/39 learner ("L1").
pub const AT_L1: &str = "5d1c9b7e-2a4f-4c61-8e3b-6a0f1e2d3c41";
/// Learn `userId` of the AT-36 learner ("L2"), whose objectId no SCIM user has.
pub const AT_L2: &str = "9a7e4b2c-6d1f-4e83-b5a0-2c4d6e8f0a42";
/// The SCIM `externalId` (Entra objectId) of Ada Lovelace (AT-35); `Users.csv` has it in upper case.
pub const AT_ADA_OBJECT_ID: &str = "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1";
/// L2's objectId (O9 in AT-36).
pub const AT_L2_OBJECT_ID: &str = "0b8e2f0c-0000-4000-8000-000000000009";
/// The `tenantId` column of the fixtures.
pub const AT_TENANT_ID: &str = "3f1e9a52-7c4d-4b1e-8a6f-2d9c0b7e5a13";
/// L1's Σ XP in the fixtures (AT-35: the unit row's 100 + the module row's 200; the two AT-38 unit rows
/// carry 0 XP so that the AT-35 figure holds on the combined data).
pub const AT_L1_TOTAL_XP: i64 = 300;

/// Writes the data of AT-35..AT-39 (`docs/spec/acceptance.md`) into `dir` (created if missing), as
/// `Users.csv`, `Progress.csv`, … without tenant suffix:
/// * Users: L1 ([`AT_L1`], AADObjectId `7F3C1E2A-5B6D-4C8E-9F00-1234567890A1` = upper-case
///   [`AT_ADA_OBJECT_ID`]) and L2 ([`AT_L2`], [`AT_L2_OBJECT_ID`], which no SCIM user has).
/// * Progress for L1: unit `learn.intro-to-compute.1-introduction` 100 XP and module `learn.intro-to-compute`
///   200 XP (AT-35), units `learn.azure.query-data-sentinel.1-introduction` and `.2-exercise-setup` with 0 XP
///   (AT-38), so Σ XP = [`AT_L1_TOTAL_XP`] = 300.
/// * Achievements: L1 Badge `learn.intro-to-compute` 2024-03-01, Trophy `learn.cloud-foundations`
///   2024-04-01, Badge `learn.create-azure-account` 2017-09-30 (excluded) (AT-37); L2 one Badge
///   `learn.create-azure-account` 2024-02-20 (AT-36).
/// * Certifications (header `tenantID`): L1 `certification.azure-ai-engineer` 20240115 / 20240115 /
///   20250115 / 0 (AT-39).
/// * Catalog: modules `learn.intro-to-compute` ("Introduction to compute", `/training/modules/intro-to-compute/`),
///   `learn.create-azure-account`, `azure.query-data-sentinel`; units mapping the AT-38 units to
///   `azure.query-data-sentinel`; path `learn.cloud-foundations` ("Cloud foundations"); certification
///   `certification.azure-ai-engineer` ("Microsoft Certified: Azure AI Engineer Associate"); AppliedSkills
///   has only its header.
pub fn at_fixtures(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in AT_FILES {
        let text = text.replace("{T}", AT_TENANT_ID).replace("{L1}", AT_L1).replace("{L2}", AT_L2);
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The fixture files; `{T}`, `{L1}`, `{L2}` stand for [`AT_TENANT_ID`], [`AT_L1`], [`AT_L2`].
const AT_FILES: &[(&str, &str)] = &[
    (
        "Users.csv",
        "tenantId,userId,AADObjectId,CreatedOn
{T},{L1},7F3C1E2A-5B6D-4C8E-9F00-1234567890A1,2023-01-10T09:00:00Z
{T},{L2},0b8e2f0c-0000-4000-8000-000000000009,2023-02-01T12:30:00Z
",
    ),
    (
        "Progress.csv",
        "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn
{T},{L1},points.unit.basic.completed,Unit,learn.intro-to-compute.1-introduction,100,2024-03-01T10:05:00Z
{T},{L1},points.module.basic.completed,Module,learn.intro-to-compute,200,2024-03-01T10:15:00Z
{T},{L1},points.unit.basic.completed,Unit,learn.azure.query-data-sentinel.1-introduction,0,2024-05-02T08:00:00Z
{T},{L1},points.unit.basic.completed,Unit,learn.azure.query-data-sentinel.2-exercise-setup,0,2024-05-02T08:20:00Z
",
    ),
    (
        "Achievements.csv",
        "tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn
{T},{L1},badge.module.basic.completed,Badge,learn.intro-to-compute.badge,Module,learn.intro-to-compute,2024-03-01T10:15:00Z
{T},{L1},trophy.path.basic.completed,Trophy,learn.cloud-foundations.trophy,LearningPath,learn.cloud-foundations,2024-04-01T16:00:00Z
{T},{L1},badge.module.basic.completed,Badge,learn.create-azure-account.badge,Module,learn.create-azure-account,2017-09-30T11:00:00Z
{T},{L2},badge.module.basic.completed,Badge,learn.create-azure-account.badge,Module,learn.create-azure-account,2024-02-20T14:45:00Z
",
    ),
    (
        "Certifications.csv",
        "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,CertificationEndDate,\
StayCurrentEligibilityStartDate
{T},{L1},Certification,Microsoft Certified: Azure AI Engineer Associate,certification.azure-ai-engineer,20240115,\
20240115,20250115,0
",
    ),
    ("AppliedSkills.csv", "tenantId,userId,appliedSkillsUid,labProfileName,examScoredDate\n"),
    (
        "HierarchyModule.csv",
        r#"moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages
learn.intro-to-compute,Introduction to compute,/training/modules/intro-to-compute/,/training/achievements/intro-to-compute.svg,24,200,"[""beginner""]","[""azure"",""azure-virtual-machines""]","[""administrator"",""developer"",""student""]","[""en-us"",""de-de""]"
learn.create-azure-account,Create an Azure account,/training/modules/create-an-azure-account/,/training/achievements/create-an-azure-account.svg,15,200,"[""beginner""]","[""azure""]","[""administrator"",""developer"",""solution-architect""]","[""en-us""]"
azure.query-data-sentinel,"Query, visualize, and monitor data in Microsoft Sentinel",/training/modules/query-data-sentinel/,/training/achievements/query-data-sentinel.svg,45,200,"[""intermediate""]","[""microsoft-sentinel""]","[""security-operations-analyst""]","[""en-us""]"
"#,
    ),
    (
        "HierarchyUnit.csv",
        "unitUid,title,url,durationInMinutes,points,moduleUid
learn.intro-to-compute.1-introduction,Introduction,/training/modules/intro-to-compute/1-introduction,2,100,\
learn.intro-to-compute
learn.azure.query-data-sentinel.1-introduction,Introduction,/training/modules/query-data-sentinel/1-introduction,1,\
100,azure.query-data-sentinel
learn.azure.query-data-sentinel.2-exercise-setup,Exercise - Set up your environment,\
/training/modules/query-data-sentinel/2-exercise-setup,10,100,azure.query-data-sentinel
",
    ),
    (
        "HierarchyLearningPath.csv",
        r#"LearningPathUid,title,url,durationInMinutes,points,iconUrl,levels,products,roles,languages
learn.cloud-foundations,Cloud foundations,/training/paths/cloud-foundations/,39,1000,/training/achievements/paths/cloud-foundations.svg,"[""beginner""]","[""azure""]","[""administrator"",""developer""]","[""en-us""]"
"#,
    ),
    (
        "HierarchyLearningPathModule.csv",
        "LearningPathUid,ModuleUid
learn.cloud-foundations,learn.intro-to-compute
learn.cloud-foundations,learn.create-azure-account
",
    ),
    (
        "HierarchyCertification.csv",
        r#"certificationUid,type,title,summary,url,iconUrl,levels,products,roles,exams
certification.azure-ai-engineer,0,Microsoft Certified: Azure AI Engineer Associate,"Design and implement Azure AI solutions, including computer vision, language, and generative AI.",/credentials/certifications/azure-ai-engineer/,/media/learn/certification/badges/microsoft-certified-associate-badge.svg,"[""intermediate""]","[""azure"",""ai-services""]","[""ai-engineer""]","[""exam.ai-102""]"
"#,
    ),
    (
        "HierarchyAppliedSkills.csv",
        r#"appliedSkillsUid,title,url,levels,products,roles,subjects,tasks
applied-skill.build-azure-ai-vision-solution,Build an Azure AI Vision solution,/credentials/applied-skills/build-azure-ai-vision-solution/,"[""intermediate""]","[""azure""]","[""ai-engineer""]","[""artificial-intelligence""]","[""Provision an Azure AI Vision resource"",""Analyze images""]"
"#,
    ),
];
