-- Remove contact details.
UPDATE contacts SET email = concat('contact-', id, '@example.org'), phone = NULL;
