-- SPDX-License-Identifier: MIT
-- sqlite.sql: run by `sqlite3 FILE.db < sqlite.sql`; all output is deterministic.
-- 100k rows inserted by a recursive CTE, two indexes, aggregates, joins, sorts,
-- window functions, updates and deletes, VACUUM, then an integrity check.
-- A large page cache and a big temp store make SQLite allocate a lot through malloc.
PRAGMA cache_size = -32000;
PRAGMA temp_store = MEMORY;
.headers off
.mode list

CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, price REAL, note TEXT);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
INSERT INTO item
SELECT x, (x * 7919) % 997, printf('item-%06d-%s', x, hex(x * x)),
       ((x * 104729) % 100000) / 100.0, substr(replace(hex(zeroblob(100)), '0', 'n'), 1, x % 200)
FROM n;
CREATE INDEX item_grp ON item(grp, price);
CREATE INDEX item_name ON item(name);

SELECT 'rows', count(*), sum(length(name)), sum(length(note)) FROM item;
SELECT 'price', printf('%.2f', min(price)), printf('%.2f', max(price)), printf('%.4f', avg(price)),
       printf('%.2f', total(price)) FROM item;
SELECT 'groups', count(DISTINCT grp) FROM item;
SELECT 'top', grp, count(*), printf('%.2f', sum(price)) FROM item GROUP BY grp
 ORDER BY sum(price) DESC, grp LIMIT 5;
SELECT 'names', count(*), min(name), max(name) FROM item WHERE name LIKE 'item-0777%';
SELECT 'range', count(*), printf('%.2f', sum(price)) FROM item WHERE grp BETWEEN 100 AND 200
 AND price > 500;

-- A self-join and a window function over a sorted set.
CREATE TABLE grp_stat AS
SELECT grp, count(*) AS n, avg(price) AS mean FROM item GROUP BY grp;
SELECT 'join', count(*), printf('%.2f', sum(i.price - g.mean)) FROM item i JOIN grp_stat g USING (grp)
 WHERE i.price > g.mean;
SELECT 'window', grp, id, printf('%.2f', price), rk FROM (
  SELECT grp, id, price, rank() OVER (PARTITION BY grp ORDER BY price DESC, id) AS rk FROM item
) WHERE rk <= 2 AND grp < 4 ORDER BY grp, rk;
SELECT 'sorted', group_concat(id, ',') FROM (SELECT id FROM item ORDER BY note DESC, price, id LIMIT 12);

-- Updates and deletes, then VACUUM rebuilds the whole file.
UPDATE item SET note = upper(note) || name WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT 'after', count(*), sum(length(note)) FROM item;
VACUUM;
PRAGMA integrity_check;
SELECT 'pages', CASE WHEN page_count > 0 THEN 'ok' END FROM pragma_page_count;
SELECT 'final', count(*), max(id), printf('%.2f', sum(price)) FROM item;
