-- Document files' bytes in the database itself (DOCHOOKS_FILE_STORE=database, the default on
-- PostgreSQL), so every process serving or working on the database reads them, on any
-- machine. A file is cut into chunks of at most 1 MiB, numbered from 0, keyed by the path its
-- document_files row names; written in the transaction that creates the document, deleted
-- in the one that prunes it. Created on both engines: SQLite may use it too.
CREATE TABLE document_file_chunks (
    path TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data {bytes} NOT NULL,
    PRIMARY KEY (path, seq)
);
