/* Unit tests for the S3 XML reader: real-shaped responses (ListObjectsV2 with and without
 * a delimiter, ListParts, ListMultipartUploads, Initiate/CompleteMultipartUpload,
 * CopyObjectResult, Error, as the S3 API reference shows them), namespace prefixes,
 * entities, character references, CDATA, mixed content, line-end normalisation, the
 * caps (depth, element count, size) and every malformation with its byte offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "objstore/xml.h"
#include "util/buf.h"
#include "util/banned.h"

static void parse_ok(struct gm_xml_doc *d, const char *s)
{
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_xml_parse(d, s, strlen(s), &err);
	if (rc != GM_OK)
		fail_msg("parse failed: %s", gm_err_msg(&err));
	gm_err_release(&err);
}

static void expect_text(const struct gm_xml_el *e, const char *name, const char *want)
{
	size_t len = 99;
	const char *t = gm_xml_child_text(e, name, &len);
	if (!want) {
		assert_null(t);
		assert_int_equal(len, 0);
		return;
	}
	if (!t)
		fail_msg("no <%s>", name);
	assert_string_equal(t, want);
	assert_int_equal(len, strlen(want));
}

static const char list_v2[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "    <Name>bucket</Name>\n"
        "    <Prefix/>\n"
        "    <KeyCount>3</KeyCount>\n"
        "    <MaxKeys>1000</MaxKeys>\n"
        "    <IsTruncated>true</IsTruncated>\n"
        "    <Contents>\n"
        "        <Key>my-image.jpg</Key>\n"
        "        <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
        "        <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\n"
        "        <Size>434234</Size>\n"
        "        <StorageClass>STANDARD</StorageClass>\n"
        "    </Contents>\n"
        "    <Contents>\n"
        "        <Key>my-third-image.jpg</Key>\n"
        "        <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
        "        <ETag>\"1b2cf535f27731c974343645a3985328\"</ETag>\n"
        "        <Size>64994</Size>\n"
        "        <StorageClass>STANDARD_IA</StorageClass>\n"
        "    </Contents>\n"
        "    <Contents><Key> spaced &amp; odd &lt;key&gt; </Key><Size>0</Size>"
        "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag></Contents>\n"
        "    <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
        "</NextContinuationToken>\n"
        "</ListBucketResult>";

static void test_list_objects_v2(void **state)
{
	(void)state;
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	assert_null(gm_xml_root(&d));
	parse_ok(&d, list_v2);
	const struct gm_xml_el *r = gm_xml_root(&d);
	assert_non_null(r);
	assert_string_equal(r->name, "ListBucketResult");
	assert_null(r->parent);
	expect_text(r, "Name", "bucket");
	expect_text(r, "Prefix", ""); /* present and empty */
	expect_text(r, "Delimiter", NULL);
	expect_text(r, "KeyCount", "3");
	expect_text(r, "IsTruncated", "true");
	expect_text(r, "NextContinuationToken", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

	static const char *const keys[] = {"my-image.jpg", "my-third-image.jpg",
	                                   " spaced & odd <key> "};
	static const char *const etags[] = {"\"fba9dede5f27731c9771645a39863328\"",
	                                    "\"1b2cf535f27731c974343645a3985328\"",
	                                    "\"d41d8cd98f00b204e9800998ecf8427e\""};
	static const char *const sizes[] = {"434234", "64994", "0"};
	const struct gm_xml_el *it = gm_xml_child(r, "Contents");
	for (size_t n = 0; n < 3; n++, it = gm_xml_next(it)) {
		assert_non_null(it);
		assert_ptr_equal(it->parent, r);
		expect_text(it, "Key", keys[n]);
		expect_text(it, "ETag", etags[n]);
		expect_text(it, "Size", sizes[n]);
	}
	assert_null(it);
	/* the container's own text is its indentation, kept as is */
	size_t len;
	const char *t = gm_xml_text(gm_xml_child(r, "Contents"), &len);
	assert_int_equal(strspn(t, " \n"), len);
	/* children in document order */
	const struct gm_xml_el *c = r->first_child;
	const char *order[] = {"Name",     "Prefix",      "KeyCount",
	                       "MaxKeys",  "IsTruncated", "Contents",
	                       "Contents", "Contents",    "NextContinuationToken"};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++, c = c->next_sibling) {
		assert_non_null(c);
		assert_string_equal(c->name, order[i]);
	}
	assert_null(c);
	/* NULL-safe lookups chain */
	assert_null(gm_xml_child(gm_xml_child(r, "Missing"), "Key"));
	assert_string_equal(gm_xml_text(NULL, &len), "");
	assert_int_equal(len, 0);
	assert_null(gm_xml_next(NULL));
	gm_xml_doc_release(&d);
	assert_null(gm_xml_root(&d));
	gm_xml_doc_release(&d);
	gm_xml_doc_release(NULL);
}

static void test_list_delimited_prefixed(void **state)
{
	(void)state;
	/* a delimited listing with a namespace prefix on every element */
	const char *s =
	        "<s3:ListBucketResult xmlns:s3='http://s3.amazonaws.com/doc/2006-03-01/'>"
	        "<s3:Name>b</s3:Name><s3:Prefix>photos/</s3:Prefix>"
	        "<s3:Delimiter>/</s3:Delimiter><s3:ContinuationToken>abc</s3:"
	        "ContinuationToken>"
	        "<s3:Contents><s3:Key>photos/a.jpg</s3:Key><s3:Size>5</s3:Size></s3:Contents>"
	        "<s3:CommonPrefixes><s3:Prefix>photos/2006/</s3:Prefix></s3:CommonPrefixes>"
	        "<s3:CommonPrefixes><s3:Prefix>photos/2007/</s3:Prefix></s3:CommonPrefixes>"
	        "<s3:IsTruncated>false</s3:IsTruncated>"
	        "</s3:ListBucketResult >";
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	parse_ok(&d, s);
	const struct gm_xml_el *r = gm_xml_root(&d);
	assert_string_equal(r->name, "ListBucketResult");
	expect_text(r, "Prefix", "photos/");
	expect_text(r, "Delimiter", "/");
	expect_text(r, "ContinuationToken", "abc");
	const struct gm_xml_el *p = gm_xml_child(r, "CommonPrefixes");
	expect_text(p, "Prefix", "photos/2006/");
	p = gm_xml_next(p);
	expect_text(p, "Prefix", "photos/2007/");
	assert_null(gm_xml_next(p));
	expect_text(gm_xml_child(r, "Contents"), "Key", "photos/a.jpg");
	gm_xml_doc_release(&d);
}

static void test_multipart_answers(void **state)
{
	(void)state;
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);

	parse_ok(&d,
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	         "<InitiateMultipartUploadResult "
	         "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	         "  <Bucket>example-bucket</Bucket>\n"
	         "  <Key>example-object</Key>\n"
	         "  "
	         "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
	         "</InitiateMultipartUploadResult>");
	assert_string_equal(gm_xml_root(&d)->name, "InitiateMultipartUploadResult");
	expect_text(gm_xml_root(&d), "UploadId",
	            "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");

	/* parsing again replaces the document */
	parse_ok(&d,
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	         "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	         "  <Bucket>example-bucket</Bucket>\n"
	         "  <Key>example-object</Key>\n"
	         "  "
	         "<UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>\n"
	         "  <Initiator>\n"
	         "      <ID>arn:aws:iam::111122223333:user/some-user</ID>\n"
	         "      <DisplayName>umat-user</DisplayName>\n"
	         "  </Initiator>\n"
	         "  <Owner>\n"
	         "    <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
	         "    <DisplayName>someName</DisplayName>\n"
	         "  </Owner>\n"
	         "  <StorageClass>STANDARD</StorageClass>\n"
	         "  <PartNumberMarker>1</PartNumberMarker>\n"
	         "  <NextPartNumberMarker>3</NextPartNumberMarker>\n"
	         "  <MaxParts>2</MaxParts>\n"
	         "  <IsTruncated>true</IsTruncated>\n"
	         "  <Part>\n"
	         "    <PartNumber>2</PartNumber>\n"
	         "    <LastModified>2010-11-10T20:48:34.000Z</LastModified>\n"
	         "    <ETag>\"7778aef83f66abc1fa1e8477f296d394\"</ETag>\n"
	         "    <Size>10485760</Size>\n"
	         "  </Part>\n"
	         "  <Part>\n"
	         "    <PartNumber>3</PartNumber>\n"
	         "    <LastModified>2010-11-10T20:48:33.000Z</LastModified>\n"
	         "    <ETag>\"aaaa18db4cc2f85cedef654fccc4a4x8\"</ETag>\n"
	         "    <Size>10485760</Size>\n"
	         "  </Part>\n"
	         "</ListPartsResult>");
	const struct gm_xml_el *r = gm_xml_root(&d);
	assert_string_equal(r->name, "ListPartsResult");
	expect_text(gm_xml_child(r, "Owner"), "DisplayName", "someName");
	expect_text(gm_xml_child(r, "Initiator"), "ID", "arn:aws:iam::111122223333:user/some-user");
	expect_text(r, "NextPartNumberMarker", "3");
	const struct gm_xml_el *p = gm_xml_child(r, "Part");
	expect_text(p, "PartNumber", "2");
	expect_text(p, "ETag", "\"7778aef83f66abc1fa1e8477f296d394\"");
	p = gm_xml_next(p);
	expect_text(p, "PartNumber", "3");
	expect_text(p, "Size", "10485760");
	assert_null(gm_xml_next(p));

	parse_ok(&d,
	         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	         "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	         "  <Bucket>bucket</Bucket>\n"
	         "  <KeyMarker></KeyMarker>\n"
	         "  <UploadIdMarker></UploadIdMarker>\n"
	         "  <NextKeyMarker>my-movie.m2ts</NextKeyMarker>\n"
	         "  <NextUploadIdMarker>YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ"
	         "</NextUploadIdMarker>\n"
	         "  <MaxUploads>3</MaxUploads>\n"
	         "  <IsTruncated>true</IsTruncated>\n"
	         "  <Upload>\n"
	         "    <Key>my-divisor</Key>\n"
	         "    <UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw</UploadId>\n"
	         "    <StorageClass>REDUCED_REDUNDANCY</StorageClass>\n"
	         "    <Initiated>2010-11-10T20:48:33.000Z</Initiated>\n"
	         "  </Upload>\n"
	         "  <Upload>\n"
	         "    <Key>my-movie.m2ts</Key>\n"
	         "    "
	         "<UploadId>VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
	         "    <StorageClass>STANDARD</StorageClass>\n"
	         "    <Initiated>2010-11-10T20:48:33.000Z</Initiated>\n"
	         "  </Upload>\n"
	         "</ListMultipartUploadsResult>");
	r = gm_xml_root(&d);
	expect_text(r, "KeyMarker", "");
	size_t n = 0;
	for (p = gm_xml_child(r, "Upload"); p; p = gm_xml_next(p))
		n++;
	assert_int_equal(n, 2);
	expect_text(gm_xml_next(gm_xml_child(r, "Upload")), "Key", "my-movie.m2ts");

	/* CompleteMultipartUpload answers 200 with either of these bodies */
	parse_ok(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	             "<CompleteMultipartUploadResult "
	             "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	             "  <Location>http://Example-Bucket.s3.Region.amazonaws.com/Example-Object"
	             "</Location>\n"
	             "  <Bucket>Example-Bucket</Bucket>\n"
	             "  <Key>Example-Object</Key>\n"
	             "  <ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>\n"
	             "</CompleteMultipartUploadResult>");
	assert_string_equal(gm_xml_root(&d)->name, "CompleteMultipartUploadResult");
	expect_text(gm_xml_root(&d), "ETag", "\"3858f62230ac3c915f300c664312c11f-9\"");
	parse_ok(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n"
	             "<Error>\n"
	             "  <Code>InternalError</Code>\n"
	             "  <Message>We encountered an internal error. Please try again.</Message>\n"
	             "  <RequestId>656c76696e6727732072657175657374</RequestId>\n"
	             "  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n"
	             "</Error>");
	assert_string_equal(gm_xml_root(&d)->name, "Error");
	expect_text(gm_xml_root(&d), "Code", "InternalError");

	parse_ok(&d, "<CopyObjectResult>\n"
	             "   <LastModified>2009-10-28T22:32:00</LastModified>\n"
	             "   <ETag>\"9b2cf535f27731c974343645a3985328\"</ETag>\n"
	             "</CopyObjectResult>");
	expect_text(gm_xml_root(&d), "LastModified", "2009-10-28T22:32:00");

	parse_ok(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	             "<Error>\n"
	             "  <Code>NoSuchKey</Code>\n"
	             "  <Message>The resource you requested does not exist</Message>\n"
	             "  <Resource>/mybucket/myfoto.jpg</Resource>\n"
	             "  <RequestId>4442587FB7D0A2F9</RequestId>\n"
	             "</Error>\n");
	expect_text(gm_xml_root(&d), "Code", "NoSuchKey");
	expect_text(gm_xml_root(&d), "Resource", "/mybucket/myfoto.jpg");
	gm_xml_doc_release(&d);
}

static void expect_one(const char *xml, size_t xml_len, const char *want, size_t want_len)
{
	struct gm_xml_doc d;
	struct gm_err err = GM_ERR_INIT;
	gm_xml_doc_init(&d);
	if (gm_xml_parse(&d, xml, xml_len, &err) != GM_OK)
		fail_msg("parse of '%s' failed: %s", xml, gm_err_msg(&err));
	size_t len;
	const char *t = gm_xml_text(gm_xml_root(&d), &len);
	assert_int_equal(len, want_len);
	assert_memory_equal(t, want, want_len);
	assert_int_equal(t[len], '\0');
	gm_xml_doc_release(&d);
	gm_err_release(&err);
}

#define ONE(xml, want) expect_one(xml, sizeof(xml) - 1, want, sizeof(want) - 1)

static void test_text_decoding(void **state)
{
	(void)state;
	ONE("<K>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;</K>", "a & b <c> \"d\" 'e'");
	ONE("<K>&#65;&#x42;&#x43;&#x20AC;&#8364;&#x1F600;&#x10FFFF;</K>",
	    "ABC\xe2\x82\xac\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
	ONE("<K>&#x0041;&#00066;</K>", "AB"); /* leading zeros */
	ONE("<K>tab&#9;cr&#13;lf&#10;ctl&#1;</K>", "tab\tcr\rlf\nctl\x01");
	ONE("<K><![CDATA[<not a tag> & ]]]]><![CDATA[>]]></K>", "<not a tag> & ]]>");
	ONE("<K>a<![CDATA[]]>b</K>", "ab");
	ONE("<K>a\r\nb\rc\n\rd</K>", "a\nb\nc\n\nd");
	ONE("<K><![CDATA[x\r\ny]]></K>", "x\ny");
	ONE("<K>  lead and trail  </K>", "  lead and trail  ");
	ONE("<K>x<!-- a comment <b> -->y<?pi stuff?>z</K>", "xyz");
	ONE("<K a=\"1\" b = '2&amp;&#x41;' c=\"&apos;>\" >t</K>", "t");
	ONE("<K>1 > 0 and ]] is fine</K>", "1 > 0 and ]] is fine");
	ONE("\xef\xbb\xbf<?xml version='1.0'?>\n<!-- before -->\n<K>bom</K>\n<!-- after -->\n"
	    "<?after?>\n",
	    "bom");
	ONE("<K>caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac</K>", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
	ONE("<K/>", "");
	ONE("<K></K>", "");

	/* mixed content: the parent's pieces join, the child's stay apart */
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	parse_ok(&d, "<a>x<b>y<c>z</c>w</b>v<b/>u</a>");
	const struct gm_xml_el *a = gm_xml_root(&d);
	assert_string_equal(a->text, "xvu");
	const struct gm_xml_el *b = gm_xml_child(a, "b");
	assert_string_equal(b->text, "yw");
	assert_string_equal(gm_xml_child(b, "c")->text, "z");
	assert_ptr_equal(gm_xml_child(b, "c")->parent, b);
	assert_string_equal(gm_xml_next(b)->text, "");
	assert_null(gm_xml_next(gm_xml_next(b)));
	/* gm_xml_next skips other names between */
	parse_ok(&d, "<r><P>1</P><Q>q</Q><P>2</P><Q/><P>3</P></r>");
	const char *want[] = {"1", "2", "3"};
	const struct gm_xml_el *p = gm_xml_child(gm_xml_root(&d), "P");
	for (size_t n = 0; n < 3; n++, p = gm_xml_next(p)) {
		assert_non_null(p);
		assert_string_equal(p->text, want[n]);
	}
	assert_null(p);
	assert_int_equal(d.n_els, 6);
	gm_xml_doc_release(&d);
}

static void expect_bad(const char *xml, size_t len, enum gm_rc rc, const char *what, size_t at)
{
	struct gm_xml_doc d;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf want = GM_BUF_INIT;
	gm_xml_doc_init(&d);
	/* a document already there is dropped on failure */
	assert_int_equal(gm_xml_parse(&d, "<ok/>", 5, NULL), GM_OK);
	enum gm_rc got = gm_xml_parse(&d, xml, len, &err);
	print_message("%-40.40s -> %s\n", xml, gm_err_msg(&err));
	assert_int_equal(got, rc);
	assert_null(gm_xml_root(&d));
	assert_int_equal(d.n_els, 0);
	assert_non_null(strstr(gm_err_msg(&err), what));
	gm_buf_addf(&want, " at byte %zu", at);
	if (!strstr(gm_err_msg(&err), gm_buf_cstr(&want)))
		fail_msg("'%s' lacks '%s'", gm_err_msg(&err), gm_buf_cstr(&want));
	gm_buf_release(&want);
	gm_err_release(&err);
	gm_xml_doc_release(&d);
}

#define BAD(xml, what, at) expect_bad(xml, sizeof(xml) - 1, GM_ERR_PARSE, what, at)

static void test_malformed(void **state)
{
	(void)state;
	BAD("", "no root element", 0);
	BAD("  \n ", "no root element", 4);
	BAD("<?xml version='1.0'?><!-- only -->", "no root element", 34);
	BAD("<a>", "input ends inside <a>", 3);
	BAD("<a><b>x</b>", "input ends inside <a>", 11);
	BAD("<a></b>", "end tag </b> does not close <a>", 3);
	BAD("<a><b></a></b>", "end tag </a> does not close <b>", 6);
	BAD("<x:a></y:a>", "end tag </y:a> does not close <x:a>", 5);
	BAD("</a>", "without a start tag", 0);
	BAD("<a>&bogus;</a>", "unknown entity", 3);
	BAD("<a>&amp</a>", "starts no entity", 3);
	BAD("<a>& b;</a>", "unknown entity", 3);
	BAD("<a>&#0;</a>", "U+0000", 3);
	BAD("<a>&#xD800;</a>", "U+D800", 3);
	BAD("<a>&#x110000;</a>", "beyond U+10FFFF", 3);
	BAD("<a>&#99999999999;</a>", "beyond U+10FFFF", 3);
	BAD("<a>&#;</a>", "empty character reference", 3);
	BAD("<a>&#x;</a>", "empty character reference", 3);
	BAD("<a>&#12a;</a>", "bad digit", 3);
	BAD("<a>&#x-1;</a>", "bad digit", 3);
	BAD("<a>&#X41;</a>", "bad digit", 3); /* XML's hex marker is a lowercase x */
	BAD("<a>x\0y</a>", "NUL byte", 4);
	BAD("<a><![CDATA[x\0]]></a>", "NUL byte", 13);
	BAD("\0<a/>", "NUL byte", 0);
	BAD("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", "DOCTYPE", 0);
	BAD("<a><!DOCTYPE a></a>", "DOCTYPE", 3);
	BAD("<!ELEMENT a ANY><a/>", "unexpected '<!'", 0);
	BAD("<a><!-- x </a>", "unterminated comment", 3);
	BAD("<a><![CDATA[x</a>", "unterminated CDATA", 3);
	BAD("<?xml version='1.0'", "unterminated processing instruction", 0);
	BAD("<![CDATA[x]]><a/>", "CDATA section outside", 0);
	BAD("<a x='1></a>", "'<' in an attribute value", 8);
	BAD("<a x='1", "unterminated attribute value", 5);
	BAD("<a x=\"&nope;\"/>", "unknown entity", 6);
	BAD("<a x=1></a>", "without quotes", 5);
	BAD("<a x></a>", "without '='", 4);
	BAD("<a x='1'y='2'></a>", "no space before an attribute", 8);
	BAD("<a 1='2'></a>", "malformed attribute", 3);
	BAD("<a/><b/>", "a second root element", 4);
	BAD("<a/>text", "text outside the root element", 4);
	BAD("text<a/>", "text outside the root element", 0);
	BAD("<a></a>&amp;", "text outside the root element", 7);
	BAD("<a><1/></a>", "not followed by a name", 3);
	BAD("< a/>", "not followed by a name", 0);
	BAD("<a></ a>", "'</' not followed by a name", 3);
	BAD("<a:>x</a:>", "malformed qualified name", 0);
	BAD("<:a/>", "malformed qualified name", 0);
	BAD("<a/ >", "'/' not followed by '>'", 2);
	BAD("<a", "unterminated start tag", 0);
	BAD("<a b='c'", "unterminated start tag", 0);
	BAD("<a></a", "unterminated end tag", 3);
	BAD("<a></a b>", "unterminated end tag", 3);

	/* names in messages are cut at 64 bytes */
	struct gm_buf s = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	gm_buf_addch(&s, '<');
	gm_buf_addpad(&s, 'n', 100);
	gm_buf_adds(&s, "></b>");
	assert_int_equal(gm_xml_parse(&d, s.data, s.len, &err), GM_ERR_PARSE);
	struct gm_buf n64 = GM_BUF_INIT;
	gm_buf_addpad(&n64, 'n', 64);
	assert_non_null(strstr(gm_err_msg(&err), gm_buf_cstr(&n64)));
	gm_buf_addch(&n64, 'n');
	assert_null(strstr(gm_err_msg(&err), gm_buf_cstr(&n64)));
	/* NULL text is an empty document */
	assert_int_equal(gm_xml_parse(&d, NULL, 10, &err), GM_ERR_PARSE);
	gm_buf_release(&n64);
	gm_buf_release(&s);
	gm_err_release(&err);
	gm_xml_doc_release(&d);
}

static void test_limits(void **state)
{
	(void)state;
	struct gm_buf s = GM_BUF_INIT;
	struct gm_xml_doc d;
	struct gm_err err = GM_ERR_INIT;
	gm_xml_doc_init(&d);

	/* depth: 64 nested elements pass, 65 do not */
	for (int i = 0; i < GM_XML_MAX_DEPTH; i++)
		gm_buf_adds(&s, "<d>");
	gm_buf_adds(&s, "deep");
	for (int i = 0; i < GM_XML_MAX_DEPTH; i++)
		gm_buf_adds(&s, "</d>");
	assert_int_equal(gm_xml_parse(&d, s.data, s.len, &err), GM_OK);
	const struct gm_xml_el *e = gm_xml_root(&d);
	for (int i = 1; i < GM_XML_MAX_DEPTH; i++)
		e = gm_xml_child(e, "d");
	assert_string_equal(gm_xml_text(e, NULL), "deep");
	gm_buf_reset(&s);
	for (int i = 0; i <= GM_XML_MAX_DEPTH; i++)
		gm_buf_adds(&s, "<d>");
	assert_int_equal(gm_xml_parse(&d, s.data, s.len, &err), GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "deeper than 64 at byte 192"));
	assert_null(gm_xml_root(&d));

	/* elements: GM_XML_MAX_ELEMENTS pass, one more does not */
	gm_buf_reset(&s);
	gm_buf_adds(&s, "<r>");
	for (unsigned i = 1; i < GM_XML_MAX_ELEMENTS; i++)
		gm_buf_adds(&s, "<a/>");
	gm_buf_adds(&s, "</r>");
	assert_int_equal(gm_xml_parse(&d, s.data, s.len, &err), GM_OK);
	assert_int_equal(d.n_els, GM_XML_MAX_ELEMENTS);
	gm_buf_truncate(&s, s.len - 4);
	gm_buf_adds(&s, "<a/></r>");
	assert_int_equal(gm_xml_parse(&d, s.data, s.len, &err), GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "more than 1000000 elements"));
	assert_null(gm_xml_root(&d));

	/* size: one byte over 64 MiB is refused before it is read */
	gm_buf_reset(&s);
	gm_buf_adds(&s, "<r>");
	gm_buf_addpad(&s, ' ', GM_XML_MAX_INPUT);
	assert_int_equal(gm_xml_parse(&d, s.data, GM_XML_MAX_INPUT + 1, &err), GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "larger than"));
	gm_buf_release(&s);
	gm_err_release(&err);
	gm_xml_doc_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_list_objects_v2),
	        cmocka_unit_test(test_list_delimited_prefixed),
	        cmocka_unit_test(test_multipart_answers),
	        cmocka_unit_test(test_text_decoding),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
