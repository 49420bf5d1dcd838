-- The Entra fields the reporting join shows ([title, department, emails] as JSON), kept beside the
-- document so reading every identity of a tenant parses a few bytes per user instead of each document.
-- The gateway writes it with every user write; existing users get it here.
ALTER TABLE users ADD COLUMN identity TEXT;
UPDATE users SET identity = json_build_array(doc::jsonb -> 'title',
    doc::jsonb -> 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User' -> 'department',
    doc::jsonb -> 'emails')::text;
