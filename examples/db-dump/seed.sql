-- The lab's database: a small shop, enough rows that the dump has something to show.
CREATE DATABASE shop;
USE shop;
CREATE TABLE customers (
	id INT PRIMARY KEY,
	name VARCHAR(80) NOT NULL,
	country CHAR(2) NOT NULL
) ENGINE=InnoDB;
CREATE TABLE orders (
	id INT PRIMARY KEY,
	customer_id INT NOT NULL REFERENCES customers(id),
	total_cents INT NOT NULL,
	placed_at DATETIME NOT NULL
) ENGINE=InnoDB;
INSERT INTO customers VALUES
	(1, 'Ada Lovelace', 'GB'), (2, 'Grace Hopper', 'US'), (3, 'Edsger Dijkstra', 'NL'),
	(4, 'Barbara Liskov', 'US'), (5, 'Niklaus Wirth', 'CH');
INSERT INTO orders VALUES
	(101, 1, 4599, '2026-11-20 08:12:00'), (102, 2, 1250, '2026-11-20 09:40:00'),
	(103, 3, 99900, '2026-11-20 11:05:00'), (104, 1, 300, '2026-11-20 13:30:00'),
	(105, 5, 7425, '2026-11-20 17:45:00'), (106, 4, 18000, '2026-11-20 21:02:00');
