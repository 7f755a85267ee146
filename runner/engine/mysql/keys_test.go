package mysql

import (
	"slices"
	"testing"
)

func TestSplitKeysTakesTheSecondaryKeysOutOfMysqldumpsCreateTable(t *testing.T) {
	create := "CREATE TABLE `items` (\n" +
		"  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n" +
		"  `sku` char(32) NOT NULL,\n" +
		"  `title` varchar(255) DEFAULT NULL,\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `sku_u` (`sku`),\n" +
		"  KEY `title` (`title`(20)),\n" +
		"  FULLTEXT KEY `ft` (`title`)\n" +
		") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4;\n"
	out, keys := splitKeys([]byte(create))
	want := "CREATE TABLE `items` (\n" +
		"  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n" +
		"  `sku` char(32) NOT NULL,\n" +
		"  `title` varchar(255) DEFAULT NULL,\n" +
		"  PRIMARY KEY (`id`)\n" +
		") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4;\n"
	if string(out) != want {
		t.Errorf("statement:\n%s\nwant:\n%s", out, want)
	}
	if wantKeys := []string{"UNIQUE KEY `sku_u` (`sku`)", "KEY `title` (`title`(20))", "FULLTEXT KEY `ft` (`title`)"}; !slices.Equal(keys, wantKeys) {
		t.Errorf("keys %q, want %q", keys, wantKeys)
	}

	// Foreign keys need their index from the start; partitions are left alone.
	for _, keep := range []string{
		"CREATE TABLE `o` (\n  `id` int NOT NULL,\n  `i` int,\n  PRIMARY KEY (`id`),\n  KEY `i` (`i`),\n  CONSTRAINT `fk` FOREIGN KEY (`i`) REFERENCES `items` (`id`)\n) ENGINE=InnoDB;\n",
		"CREATE TABLE `p` (\n  `id` int NOT NULL,\n  KEY `id` (`id`)\n) ENGINE=InnoDB\n PARTITION BY HASH (`id`)\nPARTITIONS 2;\n",
		"CREATE TABLE `q` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n",
	} {
		if out, keys := splitKeys([]byte(keep)); string(out) != keep || keys != nil {
			t.Errorf("changed %q into %q, keys %q", keep, out, keys)
		}
	}
}
